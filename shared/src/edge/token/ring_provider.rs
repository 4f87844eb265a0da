//! jsonwebtoken's pluggable crypto with RS256 and ES256 verification by `ring` (already built
//! for rustls), instead of one of its bundled backends (aws-lc-rs, or the RustCrypto RSA and
//! elliptic-curve crates). Verification only: nothing here signs. It is process-wide
//! (jsonwebtoken has one provider per process): the local stack (`local/src/authorizer.rs`)
//! verifies its own tokens and its OpenID provider's through this one too.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{
    RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
};

use crate::config::ConfigError;

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory,
    verifier_factory,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes this jsonwebtoken's provider (idempotent). An error if another one is in use.
pub fn install() -> std::result::Result<(), ConfigError> {
    match PROVIDER.install_default() {
        Ok(()) => Ok(()),
        Err(current) if std::ptr::eq(current, &PROVIDER) => Ok(()),
        Err(_) => Err(ConfigError(
            "another jsonwebtoken CryptoProvider is installed in this process".into(),
        )),
    }
}

enum PublicKey {
    RsaComponents {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// PKCS#1 `RSAPublicKey` DER.
    RsaDer(Vec<u8>),
    /// An uncompressed P-256 point.
    P256(Vec<u8>),
}

struct RingVerifier {
    alg: Algorithm,
    key: PublicKey,
}

fn signer_factory(_alg: &Algorithm, _key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Err(ErrorKind::InvalidAlgorithm.into())
}

/// RS256 with an RSA key, ES256 with an EC key; every other pairing (HMAC, `none`, an RSA
/// key for ES256, …) is refused.
fn verifier_factory(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let public = match (alg, key.family(), key.kind()) {
        (Algorithm::RS256, AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            PublicKey::RsaComponents {
                n: n.clone(),
                e: e.clone(),
            }
        }
        (Algorithm::RS256, AlgorithmFamily::Rsa, DecodingKeyKind::SecretOrDer(der)) => {
            PublicKey::RsaDer(der.clone())
        }
        (Algorithm::ES256, AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            PublicKey::P256(point.clone())
        }
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: public,
    }))
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let checked = match &self.key {
            PublicKey::RsaComponents { n, e } => {
                RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, msg, signature)
            }
            PublicKey::RsaDer(der) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).verify(msg, signature)
            }
            PublicKey::P256(point) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(msg, signature)
            }
        };
        checked.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}
