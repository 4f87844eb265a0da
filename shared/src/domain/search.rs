//! File search without I/O: a file's kind, the index terms of its name, and a search's filters.
//!
//! A name is normalised (Unicode lowercase, every run of separators one space, CJK characters
//! each a word of their own). Its terms are word prefixes (2 to [`MAX_PREFIX_CHARS`] characters)
//! and, for CJK, single characters and bigrams. A query picks the one term that selects best,
//! and every hit is then checked against the whole query on the normalised name, so `rep`
//! and `report` find `Q3-Report-final.PDF` and `报告` finds `季度报告.pdf`.

use serde::{Deserialize, Serialize};

use crate::domain::disposition::media_type;
use crate::{ApiError, ErrorCode};

/// Longest word prefix that is a term; a longer query word uses this prefix and the check.
pub const MAX_PREFIX_CHARS: usize = 10;
/// Index entries per file at most, `*`, `type:` and `uploader:` included. The completion
/// transaction carries them beside its own parts, and DynamoDB takes 100 parts at most. Past
/// the bound, shorter prefixes go first (see [`terms`]): whole words stay findable.
pub const MAX_TERMS: usize = 60;
/// Longest `q` accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// The term every findable file has: searches without a selective filter read this one.
pub const ALL_TERM: &str = "*";

/// What kind of file it is, from its content type and its name's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum FileKind {
    Image,
    Video,
    Audio,
    Document,
    Archive,
    Other,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The content type decides when it says something; the extension when it is generic
    /// (`application/octet-stream`, as browsers send for what they do not know).
    pub fn of(content_type: &str, name: &str) -> Self {
        match Self::from_content_type(&media_type(content_type)) {
            Some(kind) => kind,
            None => Self::from_extension(name).unwrap_or(Self::Other),
        }
    }

    fn from_content_type(mt: &str) -> Option<Self> {
        let (top, sub) = mt.split_once('/').unwrap_or((mt, ""));
        let kind = match (top, sub) {
            ("image", _) => Self::Image,
            ("video", _) => Self::Video,
            ("audio", _) => Self::Audio,
            ("text", _) => Self::Document,
            (
                "application",
                "zip" | "x-zip-compressed" | "gzip" | "x-gzip" | "x-tar" | "x-7z-compressed"
                | "x-rar-compressed" | "vnd.rar" | "x-bzip2" | "x-xz" | "zstd",
            ) => Self::Archive,
            (
                "application",
                "pdf" | "msword" | "rtf" | "json" | "xml" | "vnd.ms-excel" | "vnd.ms-powerpoint"
                | "epub+zip",
            ) => Self::Document,
            ("application", sub)
                if sub.starts_with("vnd.openxmlformats-officedocument.")
                    || sub.starts_with("vnd.oasis.opendocument.") =>
            {
                Self::Document
            }
            _ => return None,
        };
        Some(kind)
    }

    fn from_extension(name: &str) -> Option<Self> {
        let (_, ext) = name.rsplit_once('.')?;
        let ext = ext.to_lowercase();
        let kind = match ext.as_str() {
            "jpg" | "jpeg" | "png" | "gif" | "webp" | "heic" | "heif" | "bmp" | "tif" | "tiff"
            | "svg" | "avif" => Self::Image,
            "mp4" | "mov" | "m4v" | "mkv" | "webm" | "avi" | "wmv" | "3gp" => Self::Video,
            "mp3" | "m4a" | "aac" | "wav" | "flac" | "ogg" | "opus" | "wma" => Self::Audio,
            "pdf" | "doc" | "docx" | "xls" | "xlsx" | "ppt" | "pptx" | "odt" | "ods" | "odp"
            | "rtf" | "txt" | "md" | "csv" | "pages" | "numbers" | "key" | "epub" => Self::Document,
            "zip" | "rar" | "7z" | "tar" | "gz" | "tgz" | "bz2" | "xz" | "zst" => Self::Archive,
            _ => return None,
        };
        Some(kind)
    }
}

/// Han, kana, Hangul and their punctuation-free neighbours: scripts written without spaces,
/// searched by characters and bigrams.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F) // Extensions B.. and compatibility supplement
}

/// Whether a word from [`words`] is a CJK character.
fn is_cjk_word(word: &str) -> bool {
    word.chars().next().is_some_and(is_cjk)
}

/// The bigram of CJK word `i` and the next word, when that is CJK too.
fn cjk_bigram(ws: &[String], i: usize) -> Option<String> {
    let next = ws.get(i + 1).filter(|n| is_cjk_word(n))?;
    Some(format!("{}{next}", ws[i]))
}

/// Lowercase words of `text`: runs of letters and digits, each CJK character a word.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            word.push(c);
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The name as searches compare it: its words separated by one space, CJK characters
/// joined (so `季度报告` stays `季度报告`, and `Q3-Report` is `q3 report`).
pub fn normalise(text: &str) -> String {
    let mut out = String::new();
    let mut prev_cjk = false;
    for w in words(text) {
        let cjk = is_cjk_word(&w);
        let joined = out.is_empty() || (cjk && prev_cjk);
        if !joined {
            out.push(' ');
        }
        out.push_str(&w);
        prev_cjk = cjk;
    }
    out
}

fn prefix(word: &str, n: usize) -> String {
    word.chars().take(n).collect()
}

/// Index terms of a name, most useful first, at most `MAX_TERMS - 3` (the other three are
/// `*`, `type:` and `uploader:`): first each word's longest prefix and each CJK bigram, then
/// the shorter prefixes and single CJK characters. Without duplicates.
pub fn name_terms(name: &str) -> Vec<String> {
    let ws = words(name);
    let mut first = Vec::new();
    let mut rest = Vec::new();
    for (i, w) in ws.iter().enumerate() {
        if is_cjk_word(w) {
            rest.push(w.clone());
            first.extend(cjk_bigram(&ws, i));
            continue;
        }
        let len = w.chars().count();
        if len < 2 {
            continue;
        }
        first.push(prefix(w, len.min(MAX_PREFIX_CHARS)));
        for n in 2..len.min(MAX_PREFIX_CHARS) {
            rest.push(prefix(w, n));
        }
    }
    let mut out: Vec<String> = Vec::new();
    for t in first.into_iter().chain(rest) {
        if out.len() >= MAX_TERMS - 3 {
            break;
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// Every index term of a file (name terms prefixed `n:` so no name can pose as a filter).
pub fn file_terms(name: &str, kind: FileKind, uploader: &str) -> Vec<String> {
    let mut out = vec![
        ALL_TERM.to_string(),
        format!("type:{}", kind.as_str()),
        format!("uploader:{uploader}"),
    ];
    out.extend(name_terms(name).into_iter().map(|t| format!("n:{t}")));
    out
}

/// What a search asks for (all optional; the empty search is the whole list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// The normalised query (`q`).
    pub q: Option<String>,
    pub kind: Option<FileKind>,
    pub uploader: Option<String>,
    /// Uploaded at or after (ms).
    pub after_ms: Option<i64>,
    /// Uploaded before (ms).
    pub before_ms: Option<i64>,
    pub include_expired: bool,
    pub include_deleted: bool,
}

/// What the index keeps of a file to check a hit without reading the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub conversation_id: String,
    pub file_id: String,
    pub uploaded_at_ms: i64,
    /// Normalised name; empty once deleted (a deleted file keeps nothing of what it was).
    pub name: String,
    pub kind: Option<FileKind>,
    pub uploader: String,
    pub expires_at_ms: Option<i64>,
    pub deleted: bool,
}

impl Filters {
    /// Whether any filter is given: then deleted and expired files are left out unless asked.
    pub fn is_search(&self) -> bool {
        *self != Filters::default()
    }

    /// The one term to read: the query's most selective, else uploader, else type, else all.
    /// A deleted file keeps only its `*` entry, so searches that include them read that.
    pub fn term(&self) -> String {
        if let Some(t) = self.q.as_deref().and_then(query_term) {
            return format!("n:{t}");
        }
        if self.include_deleted {
            return ALL_TERM.to_string();
        }
        if let Some(u) = &self.uploader {
            return format!("uploader:{u}");
        }
        if let Some(k) = self.kind {
            return format!("type:{}", k.as_str());
        }
        ALL_TERM.to_string()
    }

    /// Whether deleted files are shown: asked for, and found by time and uploader only (a
    /// deleted file has no name or kind left to match, and a hit would say they matched).
    pub fn shows_deleted(&self) -> bool {
        self.include_deleted && self.q.is_none() && self.kind.is_none()
    }

    /// Whether an entry read from the index is a hit.
    pub fn matches(&self, e: &Entry, now_ms: i64) -> bool {
        let shown = match e.deleted {
            true => self.shows_deleted(),
            false => self.include_expired || e.expires_at_ms.is_none_or(|x| x > now_ms),
        };
        shown
            && self.q.as_ref().is_none_or(|q| name_contains(&e.name, q))
            && self.kind.is_none_or(|k| e.kind == Some(k))
            && self.uploader.as_ref().is_none_or(|u| *u == e.uploader)
            && self.in_range(e.uploaded_at_ms)
    }

    fn in_range(&self, at: i64) -> bool {
        self.after_ms.is_none_or(|a| at >= a) && self.before_ms.is_none_or(|b| at < b)
    }
}

/// Whether a normalised name contains a normalised query: a Latin query from the start of a
/// word of the name (`port` does not find `report`), CJK, written without spaces, anywhere.
fn name_contains(name: &str, q: &str) -> bool {
    match q.chars().next().is_some_and(is_cjk) {
        true => name.contains(q),
        // Words are separated by one space: a leading one on both anchors `q` at a word start.
        false => format!(" {name}").contains(&format!(" {q}")),
    }
}

/// The query's most selective term: the longest word prefix (capped), a CJK bigram before a
/// single character. `None` when no word of the query is a term (one Latin letter).
fn query_term(q: &str) -> Option<String> {
    let ws = words(q);
    let candidates = ws.iter().enumerate().filter_map(|(i, w)| {
        if is_cjk_word(w) {
            return Some(cjk_bigram(&ws, i).map_or((2, w.clone()), |bigram| (4, bigram)));
        }
        let len = w.chars().count().min(MAX_PREFIX_CHARS);
        (len >= 2).then(|| (len, prefix(w, len)))
    });
    // The first of the best scores: a later candidate replaces it only by scoring higher.
    candidates
        .reduce(|best, c| if c.0 > best.0 { c } else { best })
        .map(|(_, term)| term)
}

fn bad_filter(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidFilter, message)
}

/// `q`: normalised; at least one word that is a term (two letters, or one CJK character).
pub fn parse_q(raw: &str) -> Result<String, ApiError> {
    if raw.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::new(
            ErrorCode::QueryTooLong,
            format!("q is at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let q = normalise(raw);
    if query_term(&q).is_none() {
        return Err(ApiError::new(
            ErrorCode::QueryTooShort,
            "q needs a word of at least two letters or digits, or one CJK character",
        ));
    }
    Ok(q)
}

pub fn parse_kind(raw: &str) -> Result<FileKind, ApiError> {
    raw.parse().map_err(|_| {
        bad_filter("type must be one of image, video, audio, document, archive, other")
    })
}

/// The latest time the index's sort key can hold: it writes times as 13 digits and compares
/// them as text, so a later bound (2286-11-20 on) would sort below every upload.
pub const MAX_INDEXED_MS: i64 = 9_999_999_999_999;

/// `after` / `before`: an RFC 3339 time, or a date (`YYYY-MM-DD`, its midnight UTC), at most
/// [`MAX_INDEXED_MS`] (no upload is later).
pub fn parse_time(name: &str, raw: &str) -> Result<i64, ApiError> {
    let parsed = if raw.len() == 10 {
        crate::domain::time::parse_rfc3339(&format!("{raw}T00:00:00Z"))
    } else {
        crate::domain::time::parse_rfc3339(raw)
    };
    parsed
        .filter(|ms| *ms >= 0)
        .map(|ms| ms.min(MAX_INDEXED_MS))
        .ok_or_else(|| {
            bad_filter(format!(
                "{name} must be an RFC 3339 time or a date (YYYY-MM-DD)"
            ))
        })
}

/// `include`: a comma list of `expired` and `deleted`.
pub fn parse_include(raw: &str, filters: &mut Filters) -> Result<(), ApiError> {
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "expired" => filters.include_expired = true,
            "deleted" => filters.include_deleted = true,
            _ => return Err(bad_filter("include takes a comma list of expired, deleted")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry {
            conversation_id: "c".into(),
            file_id: "f".into(),
            uploaded_at_ms: 1_000,
            name: normalise(name),
            kind: Some(FileKind::of("application/octet-stream", name)),
            uploader: "u1".into(),
            expires_at_ms: None,
            deleted: false,
        }
    }

    fn search(q: &str) -> Filters {
        Filters {
            q: Some(parse_q(q).unwrap()),
            ..Filters::default()
        }
    }

    /// A query finds a name when the name has the query's term and the check passes.
    fn finds(q: &str, name: &str) -> bool {
        let f = search(q);
        let indexed = file_terms(name, FileKind::Other, "u1").contains(&f.term());
        indexed && f.matches(&entry(name), 0)
    }

    #[test]
    fn latin_is_case_insensitive_word_start_contains() {
        for q in [
            "report",
            "REP",
            "Rep",
            "q3 report",
            "report-final",
            "final.pdf",
            "pdf",
        ] {
            assert!(finds(q, "Q3-Report-final.PDF"), "{q}");
        }
        // Every word of the query starts a word of the name, not only the longest one.
        for q in [
            "reports",
            "final report",
            "xyz",
            "ort final",
            "3 report",
            "eport-final",
        ] {
            assert!(!finds(q, "Q3-Report-final.PDF"), "{q}");
        }
        // A match inside a word does not hide one at a word start further on.
        assert!(finds("ha ha", "Aha ha ha.mp3"));
        assert!(finds("ÉTÉ", "photos-été-2024.zip"));
        assert!(finds("verylongwordprefix", "VeryLongWordPrefixed.txt"));
        assert!(!finds("verylongwordprefiz", "VeryLongWordPrefixed.txt"));
    }

    #[test]
    fn cjk_by_characters_and_bigrams() {
        assert!(finds("报告", "季度报告.pdf"));
        assert!(finds("季度报告", "季度报告.pdf"));
        assert!(finds("报", "季度报告.pdf"));
        assert!(finds("度报告", "2024季度报告.pdf"));
        assert!(!finds("报表", "季度报告.pdf"));
        assert!(!finds("告季", "季度报告.pdf"));
        assert_eq!(
            normalise("2024季度报告 Final.PDF"),
            "2024 季度报告 final pdf"
        );
    }

    #[test]
    fn too_short_and_too_long_queries_are_refused() {
        assert_eq!(parse_q("a").unwrap_err().code, "query_too_short");
        assert_eq!(parse_q(" - . ").unwrap_err().code, "query_too_short");
        assert!(parse_q("报").is_ok());
        assert_eq!(
            parse_q(&"x".repeat(101)).unwrap_err().code,
            "query_too_long"
        );
    }

    #[test]
    fn kind_from_content_type_and_extension() {
        assert_eq!(FileKind::of("image/png", "x.bin"), FileKind::Image);
        assert_eq!(FileKind::of("Video/MP4; codecs=x", "x"), FileKind::Video);
        assert_eq!(FileKind::of("application/pdf", "x"), FileKind::Document);
        assert_eq!(FileKind::of("application/zip", "x"), FileKind::Archive);
        assert_eq!(
            FileKind::of("application/octet-stream", "a.DOCX"),
            FileKind::Document
        );
        assert_eq!(
            FileKind::of("application/octet-stream", "a.tar.gz"),
            FileKind::Archive
        );
        assert_eq!(
            FileKind::of("application/octet-stream", "song.flac"),
            FileKind::Audio
        );
        assert_eq!(
            FileKind::of("application/octet-stream", "a.xyz"),
            FileKind::Other
        );
        assert_eq!(
            FileKind::of("application/octet-stream", "noext"),
            FileKind::Other
        );
    }

    #[test]
    fn terms_are_bounded_keeping_whole_words() {
        let long: Vec<String> = (0..40).map(|i| format!("word{i:02}xyzabc")).collect();
        let name = long.join("-");
        let terms = file_terms(&name, FileKind::Other, "u1");
        assert_eq!(terms.len(), MAX_TERMS);
        // Every word's capped prefix made it; the shorter ones are what gave way.
        for w in &long {
            assert!(
                terms.contains(&format!("n:{}", prefix(w, MAX_PREFIX_CHARS))),
                "{w}"
            );
        }
    }

    #[test]
    fn filters_and_ranges() {
        let mut e = entry("a.png");
        e.kind = Some(FileKind::Image);
        let f = Filters {
            kind: Some(FileKind::Image),
            uploader: Some("u1".into()),
            after_ms: Some(1_000),
            before_ms: Some(2_000),
            ..Filters::default()
        };
        assert_eq!(f.term(), "uploader:u1");
        assert!(f.matches(&e, 0));
        e.uploaded_at_ms = 2_000;
        assert!(!f.matches(&e, 0), "before is exclusive");
        e.uploaded_at_ms = 1_000;
        e.expires_at_ms = Some(500);
        assert!(!f.matches(&e, 600), "expired is left out");
        assert!(Filters {
            include_expired: true,
            ..f.clone()
        }
        .matches(&e, 600));
        e.deleted = true;
        assert!(!f.matches(&e, 0));
        let deleted = Filters {
            include_deleted: true,
            ..Filters::default()
        };
        assert!(deleted.matches(&e, 0));
        assert_eq!(deleted.term(), ALL_TERM);
    }

    #[test]
    fn times_and_includes_parse() {
        assert_eq!(parse_time("after", "1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_time("after", "1970-01-01T00:00:01Z").unwrap(), 1_000);
        assert_eq!(
            parse_time("after", "yesterday").unwrap_err().code,
            "invalid_filter"
        );
        let mut f = Filters::default();
        parse_include("expired, deleted", &mut f).unwrap();
        assert!(f.include_expired && f.include_deleted);
        assert_eq!(
            parse_include("all", &mut f).unwrap_err().code,
            "invalid_filter"
        );
    }
}
