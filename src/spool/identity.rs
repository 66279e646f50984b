//! The spool's identity: a random 64-bit number written once, when a spool directory is first
//! opened, to `spool.id` (16 lowercase hex digits and a newline; write a temporary file, fsync,
//! rename, fsync the directory). It stays for the life of the directory, so a bridge restarted on
//! the same spool keeps making the same message keys, and two spools (two bridges, on one host or
//! many, with or without the same `bridge_id`) have different identities, so their keys
//! (`<bridge_id>-<spool id>-<seq>`) cannot collide.
//!
//! A missing file is created; a damaged one (not 16 hex digits) is logged and replaced by a new
//! identity, which changes the keys of records still pending (a consumer may then see one repeat
//! of a record whose first send's outcome was unknown).

use super::error::SpoolError;
use super::limits::{ID_FILE, ID_FILE_TMP};
use super::state::fsync_dir;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Reads `spool.id`, or makes and durably writes a new one; returns the 16 hex digits.
pub(super) fn load_or_create(dir: &Path) -> Result<String, SpoolError> {
    let path = dir.join(ID_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            if let Some(id) = parse_id(&bytes) {
                return Ok(id);
            }
            log::error!(
                "spool: {} is damaged; a new spool identity replaces it (keys of pending records change)",
                path.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(SpoolError::io(&path, "read", e)),
    }
    let id = format!("{:016x}", random_u64(dir)?);
    let tmp = dir.join(ID_FILE_TMP);
    let mut f = File::create(&tmp).map_err(|e| SpoolError::io(&tmp, "create", e))?;
    f.write_all(format!("{id}\n").as_bytes())
        .map_err(|e| SpoolError::io(&tmp, "write", e))?;
    f.sync_all().map_err(|e| SpoolError::io(&tmp, "fsync", e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| SpoolError::io(&path, "rename", e))?;
    fsync_dir(dir)?;
    Ok(id)
}

/// 16 lowercase hex digits, optionally followed by one newline.
fn parse_id(bytes: &[u8]) -> Option<String> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.len() == 16 && body.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        std::str::from_utf8(body).ok().map(str::to_owned)
    } else {
        None
    }
}

/// Eight bytes from the kernel's random source.
fn random_u64(dir: &Path) -> Result<u64, SpoolError> {
    let src = Path::new("/dev/urandom");
    let mut buf = [0u8; 8];
    File::open(src)
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| SpoolError::io(src, "read", e))
        .inspect_err(|_| {
            log::error!("spool {}: no random source for its identity", dir.display())
        })?;
    Ok(u64::from_le_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_as_sixteen_hex_digits() {
        assert_eq!(
            parse_id(b"0123456789abcdef\n").as_deref(),
            Some("0123456789abcdef")
        );
        assert_eq!(
            parse_id(b"0123456789abcdef").as_deref(),
            Some("0123456789abcdef")
        );
        assert_eq!(parse_id(b"0123456789ABCDEF\n"), None);
        assert_eq!(parse_id(b"0123456789abcde\n"), None);
        assert_eq!(parse_id(b""), None);
    }

    #[test]
    fn an_identity_is_kept_across_opens_and_differs_between_directories() {
        let base = std::env::temp_dir().join(format!("rb-spool-id-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let first = load_or_create(&a).unwrap();
        assert_eq!(load_or_create(&a).unwrap(), first);
        assert_ne!(load_or_create(&b).unwrap(), first);
        std::fs::write(a.join(ID_FILE), b"junk").unwrap();
        let replaced = load_or_create(&a).unwrap();
        assert_ne!(replaced, first);
        assert_eq!(
            parse_id(&std::fs::read(a.join(ID_FILE)).unwrap()),
            Some(replaced)
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
