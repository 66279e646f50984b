//! Reading a TLS client's private key, also passphrase-protected (issue 21): encrypted PKCS#8
//! (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, RFC 5958 / PKCS#5 PBES2, as
//! `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes) is decrypted with RustCrypto's `pkcs8`; any
//! other PEM key is read by rustls' own PEM parser. The passphrase is never logged or put in an
//! error.

use crate::util::Secret;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;

/// Why a key could not be read (the caller names the file).
#[derive(Debug)]
pub(super) enum KeyError {
    /// The file cannot be read or holds no usable PEM key.
    File(pem::Error),
    /// An encrypted key and no passphrase.
    PasswordMissing,
    /// The passphrase does not decrypt the key.
    WrongPassword,
    /// The encrypted key is malformed or uses a scheme `pkcs8` cannot decrypt.
    Malformed(String),
}

/// The first line of an encrypted PKCS#8 key in PEM (RFC 7468).
const ENCRYPTED_KEY_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_KEY_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// Reads the private key in `path`: an encrypted PKCS#8 key is decrypted with `password`, any
/// other PEM key is read as it is (a passphrase given for it is unused, and warned).
pub(super) fn read_key(
    path: &Path,
    password: Option<&Secret>,
) -> Result<PrivateKeyDer<'static>, KeyError> {
    let file_err = KeyError::File;
    let text = std::fs::read(path).map_err(|e| file_err(pem::Error::Io(e)))?;
    let Some(der) = encrypted_pem(&text) else {
        if password.is_some() {
            log::warn!(
                "tls: a key passphrase is given but {} is not an encrypted key; unused",
                path.display()
            );
        }
        return PrivateKeyDer::from_pem_slice(&text).map_err(file_err);
    };
    let der = der.map_err(KeyError::Malformed)?;
    let Some(password) = password else {
        return Err(KeyError::PasswordMissing);
    };
    decrypt_pkcs8(&der, password.expose().as_bytes()).map_err(|e| match e {
        None => KeyError::WrongPassword,
        Some(reason) => KeyError::Malformed(reason),
    })
}

/// The DER of the first `ENCRYPTED PRIVATE KEY` PEM block of `text`: `None` when there is none,
/// `Some(Err)` when it is not valid base64.
fn encrypted_pem(text: &[u8]) -> Option<Result<Vec<u8>, String>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(text).ok()?;
    let start = text.find(ENCRYPTED_KEY_BEGIN)? + ENCRYPTED_KEY_BEGIN.len();
    let Some(len) = text[start..].find(ENCRYPTED_KEY_END) else {
        return Some(Err(format!("no {ENCRYPTED_KEY_END} line")));
    };
    let b64: String = text[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("the PEM block is not valid base64 ({e})")),
    )
}

/// Decrypts an `EncryptedPrivateKeyInfo` (RFC 5958) with `password` into the PKCS#8 key.
/// `Err(None)`: the passphrase is wrong (the padding or the decrypted key does not check out);
/// `Err(Some(reason))`: the structure or its scheme cannot be used.
fn decrypt_pkcs8(der: &[u8], password: &[u8]) -> Result<PrivateKeyDer<'static>, Option<String>> {
    use pkcs8::der::Decode as _;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(der)
        .map_err(|e| Some(format!("not an encrypted PKCS#8 key ({e})")))?;
    let doc = info.decrypt(password).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed) => None,
        other => Some(format!("unsupported or malformed encryption ({other})")),
    })?;
    // A wrong passphrase whose padding happens to check out gives bytes that are not a key.
    pkcs8::PrivateKeyInfoRef::from_der(doc.as_bytes()).map_err(|_| None)?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        doc.as_bytes().to_vec(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    fn secret(s: &str) -> crate::util::Secret {
        crate::util::Secret::new(s)
    }

    #[test]
    fn encrypted_key_is_decrypted_with_its_passphrase() {
        let plain = PrivateKeyDer::from_pem_file(fixture("plain-key.pem")).unwrap();
        let key = read_key(
            &fixture("encrypted-key.pem"),
            Some(&secret("fixture-passphrase")),
        )
        .unwrap();
        assert_eq!(key.secret_der(), plain.secret_der());
        // A passphrase given for an unencrypted key is unused (and warned).
        let key = read_key(&fixture("plain-key.pem"), Some(&secret("x"))).unwrap();
        assert_eq!(key.secret_der(), plain.secret_der());
    }

    #[test]
    fn wrong_or_missing_passphrase_is_an_error_never_showing_it() {
        let path = fixture("encrypted-key.pem");
        for wrong in ["hunter2-x", "fixture-passphrasE", ""] {
            let e = read_key(&path, Some(&secret(wrong))).unwrap_err();
            assert!(matches!(&e, KeyError::WrongPassword), "{e:?}");
            assert!(!format!("{e:?}").contains(wrong) || wrong.is_empty());
        }
        let e = read_key(&path, None).unwrap_err();
        assert!(matches!(e, KeyError::PasswordMissing), "{e:?}");
    }

    #[test]
    fn a_broken_encrypted_block_is_named_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("rmqb-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("broken.pem");
        std::fs::write(
            &f,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB!!!!\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = read_key(&f, Some(&secret("p"))).unwrap_err();
        assert!(matches!(e, KeyError::Malformed(_)), "{e:?}");
        std::fs::write(
            &f,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAMCAQA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = read_key(&f, Some(&secret("p"))).unwrap_err();
        assert!(matches!(e, KeyError::Malformed(_)), "{e:?}");
        let e = read_key(&dir.join("absent.pem"), Some(&secret("p"))).unwrap_err();
        assert!(matches!(e, KeyError::File(_)), "{e:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
