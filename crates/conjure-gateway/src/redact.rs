//! Database URLs made safe to print: the password (in the user-info part, or libpq's
//! `password=` parameter) replaced with `****`.
//!
//! A gateway is started with `--database postgres://user:password@host/db`; that URL reaches
//! error messages ("could not connect to ...") and logs only through [`redact_url`]. The
//! function works on the text, not a parsed URL, so that a URL too malformed to parse is still
//! redacted rather than printed as it came.

/// `url` with its password, if any, replaced by `****`.
pub fn redact_url(url: &str) -> String {
    let (head, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    // The authority ends at the first `/`, `?` or `#`; a password may hold none of them
    // unescaped, but it may hold `@`, so the user info ends at the authority's last `@`.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.find(':') {
                Some(colon) => format!("{}:****{host}", &userinfo[..colon]),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let (query, fragment) = match query.find('#') {
                Some(h) => query.split_at(h),
                None => (query, ""),
            };
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=****")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}{}{fragment}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{head}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_replaced() {
        let cases = [
            ("postgres://u:s3cret@db:5432/conjure", "postgres://u:****@db:5432/conjure"),
            (
                "postgresql://u:p@ss:w@rd@db/c?sslmode=disable",
                "postgresql://u:****@db/c?sslmode=disable",
            ),
            ("postgres://u:s3cret@db", "postgres://u:****@db"),
            (
                "postgres://db/c?user=u&password=s3cret&x=1",
                "postgres://db/c?user=u&password=****&x=1",
            ),
            ("postgres://db/c?PASSWORD=s3cret#frag", "postgres://db/c?PASSWORD=****#frag"),
            ("postgres://u:s3cret@db:notaport/c", "postgres://u:****@db:notaport/c"),
            ("u:s3cret@db/c", "u:****@db/c"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn urls_without_a_password_are_unchanged() {
        for url in [
            "postgres://postgres@localhost/postgres?host=/tmp/conjure-pg.x",
            "postgres://localhost/c",
            "not a url at all",
            "",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
