-- Where a job's results were asked to go (`-o`, `--out-dir`), so collecting the job later
-- (`conjure wait` after `--no-wait` or a crash) writes them there.
--
-- This column was first added by an edit of 0003 after 0003 had shipped, which broke every
-- journal made in between (version 3 without the column). It lives here now; a journal made by
-- the edited 0003 already has it, and the runner skips this file for such a journal (see
-- `Migration::unless_column`). Shipped migrations are never edited.

ALTER TABLE jobs ADD COLUMN deliver_to TEXT;
