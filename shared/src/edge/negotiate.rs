//! Content negotiation by q-value: `Accept-Encoding` (gzip for JSON, `http::serve`) and
//! `Accept` (a download's link as JSON or a redirect, `functions/download-redirect`).
//!
//! One small parser of RFC 9110's weighted lists (§12.4.2 quality values, §12.5.1 `Accept`,
//! §12.5.3 `Accept-Encoding`) rather than a crate: the ones on crates.io either parse only
//! `Accept` (with two more header crates behind it), are unmaintained, or are new one-person
//! ports, and the two questions asked here need a few dozen lines.

/// A weight in thousandths (`q=0.5` is 500), as the RFC's three decimals allow exactly.
type Weight = u16;
const FULL: Weight = 1000;

/// One element of a weighted list: a coding or a media range (parameters other than the
/// weight left out), and its weight.
struct Preference<'a> {
    name: &'a str,
    weight: Weight,
}

/// The elements of a weighted list, in order. Elements with a malformed weight are left out:
/// they state no usable preference (a client meaning `q=2` gets what it would without them).
fn preferences(value: &str) -> impl Iterator<Item = Preference<'_>> {
    value.split(',').filter_map(|element| {
        let mut parts = element.split(';').map(str::trim);
        let name = parts.next().filter(|n| !n.is_empty())?;
        let weight = match parts.find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
        {
            None => FULL,
            Some(q) => weight(q)?,
        };
        Some(Preference { name, weight })
    })
}

/// RFC 9110's `qvalue`: `0` to `1` with at most three decimals (`1.000` at most).
fn weight(q: &str) -> Option<Weight> {
    let (whole, fraction) = q.split_once('.').unwrap_or((q, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The decimals padded to three: "5" is 500 thousandths.
    let digits = fraction.bytes().chain(std::iter::repeat(b'0')).take(3);
    let thousandths = digits.fold(0, |n, d| n * 10 + Weight::from(d - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(FULL),
        _ => None,
    }
}

/// Whether an `Accept-Encoding` value takes `coding`: named with a weight above 0, or not
/// named and `*` (which stands for every coding the value does not name) above 0. No header:
/// no coding (the identity is what every client takes).
pub fn accepts_coding(accept_encoding: Option<&str>, coding: &str) -> bool {
    let Some(value) = accept_encoding else {
        return false;
    };
    let (mut named, mut any) = (None, None);
    for p in preferences(value) {
        if p.name.eq_ignore_ascii_case(coding) {
            named.get_or_insert(p.weight);
        } else if p.name == "*" {
            any.get_or_insert(p.weight);
        }
    }
    named.or(any).is_some_and(|w| w > 0)
}

/// Whether an `Accept` value prefers `media_type` (a `type/subtype`) to whatever else it
/// lists: named explicitly (wildcards are how clients take anything, not a request for this
/// one) with a weight above 0 and no lower than any other range's. Media type parameters
/// (`charset=utf-8`) do not matter.
pub fn prefers_media_type(accept: Option<&str>, media_type: &str) -> bool {
    let Some(value) = accept else {
        return false;
    };
    let (mut named, mut others): (Option<Weight>, Weight) = (None, 0);
    for p in preferences(value) {
        if p.name.eq_ignore_ascii_case(media_type) {
            named.get_or_insert(p.weight);
        } else {
            others = others.max(p.weight);
        }
    }
    named.is_some_and(|w| w > 0 && w >= others)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_the_rfc_grammar() {
        for (q, w) in [
            ("1", 1000),
            ("1.", 1000),
            ("1.000", 1000),
            ("0", 0),
            ("0.5", 500),
            ("0.05", 50),
            ("0.001", 1),
            ("0.", 0),
        ] {
            assert_eq!(weight(q), Some(w), "{q}");
        }
        for bad in [
            "", "2", "1.001", "0.0001", "-0", "0.5x", " 0.5", "abc", ".5", "01",
        ] {
            assert_eq!(weight(bad), None, "{bad}");
        }
    }

    #[test]
    fn codings_named_win_over_the_wildcard() {
        let gzip = |v| accepts_coding(Some(v), "gzip");
        assert!(gzip("gzip"));
        assert!(gzip("deflate, GZip;q=0.2"));
        assert!(gzip("*"));
        assert!(gzip("identity, *;q=0.1"));
        assert!(!gzip("gzip;q=0, *"));
        assert!(!gzip("identity"));
        assert!(!gzip(""));
        assert!(!accepts_coding(None, "gzip"));
        // Parameters before the weight are skipped; the first mention of a name counts.
        assert!(gzip("gzip;level=9;q=0.5"));
        assert!(!gzip("gzip;q=0, gzip"));
    }

    #[test]
    fn media_types_named_and_preferred() {
        let json = |v| prefers_media_type(Some(v), "application/json");
        assert!(json("application/json"));
        assert!(json("application/json;charset=utf-8;q=0.7, text/*;q=0.7"));
        assert!(!json("text/*;q=0.8, application/json;q=0.7"));
        assert!(!json("*/*"));
        assert!(!json("application/json;q=0"));
        assert!(!json(""));
        assert!(!prefers_media_type(None, "application/json"));
    }
}
