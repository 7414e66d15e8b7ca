//! Who is calling. The gateway's key check puts a [`MemberId`] in the extensions of every
//! request made with a member key; member-facing handlers (jobs, files, webhooks, usage) read it
//! from there and never take a member from the request's own fields, so no member can act as
//! another.

/// The id of a gateway member (the `members` table's key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemberId(pub String);

impl MemberId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
