//! SHA-256 digests as people and our API write them (hex, 64 characters) and as S3 carries
//! them (`x-amz-checksum-sha256`: base64 of the 32 bytes).

use base64::Engine;

/// Hex as declared by a client, to the base64 S3 checks bytes against; `None` if not hex.
pub fn hex_to_base64(digest_hex: &str) -> Option<String> {
    let bytes = hex::decode(digest_hex).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// S3's base64, to the hex our API shows and compares; `None` if not base64.
pub fn base64_to_hex(digest_b64: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(digest_b64)
        .ok()
        .map(hex::encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_and_s3_base64_convert_both_ways() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert_eq!(hex_to_base64(hex).as_deref(), Some(b64));
        assert_eq!(base64_to_hex(b64).as_deref(), Some(hex));
        assert_eq!(hex_to_base64("zz"), None);
        assert_eq!(base64_to_hex("not base64!"), None);
    }
}
