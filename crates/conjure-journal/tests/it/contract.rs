//! The shared `JobStore` contract suite, run against the SQLite journal: `other` is a second
//! `Journal` on the same file, i.e. a second connection as another process would have.

use conjure_journal::Journal;

use crate::support::journal;

conjure_test::store_contract_suite!({
    let f = journal();
    let other = Journal::open(&f.path).expect("a second handle");
    let store = f.journal.clone();
    (f, store, other)
});
