//! Job ids: `j_` followed by ten characters a person can read aloud and type.
//!
//! The alphabet is lowercase Crockford base32 (digits and letters without `i`, `l`, `o`, `u`),
//! so ids survive being read off a screen. The first four characters are the creation time in
//! minutes (20 bits, wrapping about every two years): ids made close together sort together
//! and the prefix hints at the age. The last six are 30 random bits from the OS. Uniqueness is
//! enforced by the table's primary key, not by this module: the journal draws again on the
//! rare collision.

/// Lowercase Crockford base32.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// What every job id starts with.
pub const PREFIX: &str = "j_";

/// Characters after [`PREFIX`].
pub const BODY_LEN: usize = 10;

const TIME_CHARS: usize = 4;
const RANDOM_CHARS: usize = BODY_LEN - TIME_CHARS;

/// A fresh id for a job created at `now_ms` (unix milliseconds).
pub fn new_job_id(now_ms: i64) -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 4];
    getrandom::fill(&mut bytes)?;
    Ok(compose(now_ms, u32::from_le_bytes(bytes)))
}

/// Builds the id from its two parts; split out so that tests need no randomness.
fn compose(now_ms: i64, random: u32) -> String {
    let minutes = now_ms.max(0).unsigned_abs() / 60_000;
    let mut id = String::with_capacity(PREFIX.len() + BODY_LEN);
    id.push_str(PREFIX);
    push_base32(&mut id, minutes, TIME_CHARS);
    push_base32(&mut id, u64::from(random), RANDOM_CHARS);
    id
}

/// Appends the low `chars * 5` bits of `value`, most significant first.
fn push_base32(out: &mut String, value: u64, chars: usize) {
    for i in (0..chars).rev() {
        let digit = (value >> (i * 5)) & 0x1f;
        out.push(char::from(ALPHABET[digit as usize]));
    }
}

/// Whether `s` has the shape of a job id (not whether such a job exists).
pub fn is_job_id(s: &str) -> bool {
    s.strip_prefix(PREFIX)
        .is_some_and(|body| body.len() == BODY_LEN && body.bytes().all(|b| ALPHABET.contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shape() {
        for _ in 0..100 {
            let id = new_job_id(1_760_000_000_000).unwrap();
            assert_eq!(id.len(), 12, "{id}");
            assert!(is_job_id(&id), "{id}");
        }
    }

    #[test]
    fn time_prefix_orders_by_minute() {
        let a = compose(1_760_000_000_000, u32::MAX);
        let b = compose(1_760_000_060_000, 0);
        assert!(a < b, "{a} {b}");
        assert_eq!(a[..6], compose(1_760_000_000_001, 7)[..6]);
    }

    #[test]
    fn encoding_is_fixed_width_and_exact() {
        assert_eq!(compose(0, 0), "j_0000000000");
        assert_eq!(compose(60_000 * 33, 0x3fff_ffff), "j_0011zzzzzz");
        // Bits above the 30 that fit are dropped, not carried into the time part.
        assert_eq!(compose(0, u32::MAX), "j_0000zzzzzz");
    }

    #[test]
    fn random_part_varies() {
        let ids: std::collections::HashSet<_> = (0..50).map(|_| new_job_id(0).unwrap()).collect();
        assert!(ids.len() > 45);
    }

    #[test]
    fn shape_check_rejects_look_alikes() {
        assert!(!is_job_id("j_000000000"));
        assert!(!is_job_id("j_00000000000"));
        assert!(!is_job_id("j_000000000i"));
        assert!(!is_job_id("J_0000000000"));
        assert!(!is_job_id("req_0000000000"));
    }
}
