//! Safe `Content-Disposition` and `Content-Type` values for downloads.
//!
//! File names are untrusted. The header carries an ASCII fallback (`filename="..."`) with every
//! character that could end the quoted string, split the header or name a path replaced, and the
//! exact name as RFC 5987 `filename*=UTF-8''...` where everything outside `attr-char` is
//! percent-encoded. No byte of the name reaches a header raw.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 5987 `attr-char`: ALPHA / DIGIT / "!#$&+-.^_`|~". Everything else is encoded.
const ATTR_CHAR_COMPLEMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Types a browser may render inline without running script in our origin's name.
const INLINE_SAFE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "application/pdf",
    "text/plain",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    Attachment,
    Inline,
}

/// `attachment` (or `inline` where allowed) with both filename forms.
pub fn content_disposition(name: &str, content_type: &str, wanted: Disposition) -> String {
    let kind = match wanted {
        Disposition::Inline if INLINE_SAFE_TYPES.contains(&media_type(content_type).as_str()) => {
            "inline"
        }
        _ => "attachment",
    };
    let name = base_name(name);
    format!(
        "{kind}; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_fallback(name),
        utf8_percent_encode(name, ATTR_CHAR_COMPLEMENT)
    )
}

/// A content type's `type/subtype`, lowercase, without parameters (`Image/PNG; q=1` → `image/png`).
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A media type fit to echo in a header (`type/subtype` of RFC 7230 token characters, with
/// optional simple parameters), else `application/octet-stream`.
pub fn safe_content_type(content_type: &str) -> String {
    if is_valid_content_type(content_type) {
        content_type.to_string()
    } else {
        "application/octet-stream".to_string()
    }
}

pub fn is_valid_content_type(ct: &str) -> bool {
    fn token(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    }
    if ct.len() > 200 {
        return false;
    }
    let mut parts = ct.split(';');
    let essence = parts.next().unwrap_or("");
    let Some((t, sub)) = essence.split_once('/') else {
        return false;
    };
    token(t)
        && token(sub)
        && parts.all(|p| match p.trim().split_once('=') {
            Some((k, v)) => token(k) && token(v.trim_matches('"')) && !v.contains('\\'),
            None => false,
        })
}

/// The last path component: a name never chooses the directory it is saved in.
fn base_name(name: &str) -> &str {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name).trim();
    if base.is_empty() || base == "." || base == ".." {
        "download"
    } else {
        base
    }
}

/// Printable ASCII minus `"` `\` `;` `%` (and controls, non-ASCII): each becomes `_`.
fn ascii_fallback(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '"' | '\\' | ';' | '%') => c,
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_name() {
        assert_eq!(
            content_disposition("report.pdf", "application/pdf", Disposition::Attachment),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
    }

    #[test]
    fn chinese_name_keeps_its_exact_form_in_filename_star() {
        let h = content_disposition("季度报告.pdf", "application/pdf", Disposition::Attachment);
        assert_eq!(
            h,
            "attachment; filename=\"____.pdf\"; filename*=UTF-8''%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A.pdf"
        );
    }

    #[test]
    fn hostile_names_cannot_break_out() {
        for name in [
            "a\"; filename=evil.exe",
            "x\r\nSet-Cookie: a=b",
            "..\\..\\boot.ini",
            "../../etc/passwd",
            "a;b\u{0}c\u{7f}",
        ] {
            let h = content_disposition(name, "text/plain", Disposition::Attachment);
            assert!(
                !h.contains('\r') && !h.contains('\n') && !h.contains('\0'),
                "{h}"
            );
            assert!(h.bytes().all(|b| (0x20..0x7f).contains(&b)), "{h}");
            // Exactly two quotes: the ones around the fallback name.
            assert_eq!(h.matches('"').count(), 2, "{h}");
            assert_eq!(h.matches(';').count(), 2, "{h}");
            assert!(!h.contains('/') && !h.contains('\\'), "{h}");
        }
    }

    #[test]
    fn inline_only_for_safe_types() {
        assert!(
            content_disposition("a.png", "image/png", Disposition::Inline).starts_with("inline;")
        );
        assert!(
            content_disposition("a.pdf", "application/pdf", Disposition::Inline)
                .starts_with("inline;")
        );
        for t in [
            "text/html",
            "image/svg+xml",
            "application/octet-stream",
            "application/javascript",
        ] {
            assert!(
                content_disposition("a", t, Disposition::Inline).starts_with("attachment;"),
                "{t}"
            );
        }
    }

    #[test]
    fn content_types_are_validated() {
        assert_eq!(
            safe_content_type("text/plain; charset=utf-8"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(safe_content_type("image/svg+xml"), "image/svg+xml");
        assert_eq!(
            safe_content_type("text/html\r\nX-A: b"),
            "application/octet-stream"
        );
        assert_eq!(safe_content_type("nonsense"), "application/octet-stream");
        assert_eq!(safe_content_type(""), "application/octet-stream");
    }
}
