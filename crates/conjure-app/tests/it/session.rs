//! `App::open_journal_ahead`: the journal a paid command opens on its own thread is the one its
//! session uses, with the owner lease taken there, and a failure is reported as if the session
//! had opened it.

use conjure_app::App;

fn leases(data_dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(data_dir.join("owners"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_journal_opened_ahead_is_the_sessions_with_the_lease_taken_there() {
    let (_dir, config) = crate::config();
    let data_dir = config.data_dir.clone();
    let app = App::new(config);
    app.open_journal_ahead();
    let session = app.session().await.unwrap();
    assert_eq!(session.journal.path(), app.config.journal_path());
    // The lease was taken on the journal's thread; the session did not take another.
    assert_eq!(leases(&data_dir).len(), 1, "{:?}", leases(&data_dir));
    let id = session.owner().unwrap().to_owned();
    assert_eq!(leases(&data_dir), vec![format!("{id}.lock")]);
    // Taken once: the next session opens its own journal, inline.
    let again = app.session().await.unwrap();
    assert_eq!(again.journal.path(), session.journal.path());
}

#[tokio::test]
async fn a_journal_that_cannot_be_opened_ahead_fails_the_session_as_if_opened_there() {
    let (dir, mut config) = crate::config();
    // The data directory's parent is a file: nothing can be created under it.
    std::fs::write(dir.path().join("file"), b"").unwrap();
    config.data_dir = dir.path().join("file").join("data");
    let ahead = App::new(config.clone());
    ahead.open_journal_ahead();
    let err = ahead.session().await.unwrap_err();
    let inline = App::new(config).session().await.unwrap_err();
    assert!(err.message.starts_with("Cannot open the journal"), "{}", err.message);
    assert_eq!(err.message, inline.message);
    assert_eq!(err.hint, inline.hint);
}
