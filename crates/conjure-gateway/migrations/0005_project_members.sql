-- Project membership (issue 14 follow-up): which members may name a project (the
-- X-Conjure-Project header) and so spend its budget. A member naming a project they are not a
-- member of is refused before anything is priced, reserved or sent.
-- Shipped migrations are never edited; change the schema with a new numbered file.

CREATE TABLE project_members (
    project_id  TEXT    NOT NULL REFERENCES projects (id),
    member_id   TEXT    NOT NULL REFERENCES members (id),
    added_at    BIGINT  NOT NULL,
    PRIMARY KEY (project_id, member_id)
);

CREATE INDEX project_members_member ON project_members (member_id);

-- Before this migration any member could name any project. The members who already spent on a
-- project keep it, so that upgrading refuses nobody who was using a project; everyone else is
-- added by an admin (`conjure serve admin project member add PROJECT MEMBER`).
INSERT INTO project_members (project_id, member_id, added_at)
SELECT project_id, member_id, min(created_at)
FROM jobs
WHERE project_id IS NOT NULL AND member_id IS NOT NULL
GROUP BY project_id, member_id;
