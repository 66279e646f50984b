//! The systemd readiness protocol (`sd_notify`), written out with `std`: when `$NOTIFY_SOCKET` is
//! set (a unit with `Type=notify`), `run` sends `READY=1` once the bridge has started, `RELOADING=1`
//! and `READY=1` around a SIGHUP reload, and `STOPPING=1` when the drain begins. Each state is one
//! datagram to that Unix socket (a path, or an abstract name written with a leading `@`). Without
//! the variable nothing is sent.

use std::io;
use std::os::unix::net::UnixDatagram;

/// The environment variable systemd sets for a `Type=notify` service.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (`KEY=VALUE` lines, e.g. `"READY=1"`) to `$NOTIFY_SOCKET`.
///
/// Returns `Ok(false)` when the variable is not set (not run by systemd), `Ok(true)` when sent.
///
/// # Errors
/// The socket cannot be created or the datagram not sent.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(target) = std::env::var_os(NOTIFY_SOCKET) else {
        return Ok(false);
    };
    let sock = UnixDatagram::unbound()?;
    let bytes = target.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        sock.send_to(state.as_bytes(), &target)?;
    }
    Ok(true)
}

/// [`notify`], logging a failure at warn (the service keeps running; systemd may time it out).
pub(crate) fn notify_logged(state: &str) {
    match notify(state) {
        Ok(_) => {}
        Err(e) => log::warn!("cannot notify systemd ({state}): {e}"),
    }
}
