//! What a reload re-reads besides the rules (issue 21): the ACL credentials and the TLS files.
//!
//! Both live in shared slots the running producer reads when it signs a request
//! ([`SharedAcl`](crate::remoting::SharedAcl), shared with its name-server client and the
//! outcome-unknown lookups) and when it makes a connection (the producer's
//! [`TlsConnector`](crate::remoting::TlsConnector), whose clones share one configuration). A
//! reload replaces the slots' contents; connections already established keep their TLS session
//! until they close.

use super::config::BridgeConfig;
use crate::producer::Producer;
use std::sync::Arc;

/// A reload that would turn TLS on (`now`) or off: refused, nothing changed.
#[derive(Debug, Clone, Copy)]
pub(super) struct TlsSwitched {
    /// Whether the new config enables TLS.
    pub(super) now: bool,
}

/// What [`swap`] replaced, to put back when the reload is refused later.
pub(super) struct CredentialsUndo {
    acl: Option<Arc<crate::remoting::AclCredentials>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::remoting::TlsConnector>,
}

impl CredentialsUndo {
    pub(super) fn restore(self, producer: &Producer) {
        producer.shared_acl().set_arc(self.acl);
        #[cfg(feature = "tls")]
        if let (Some(old), Some(running)) = (self.tls, &producer.config().connection.tls) {
            running.replace_with(&old);
        }
    }
}

/// Puts `cfg`'s ACL credentials and TLS configuration into the running producer (shared with its
/// name-server client and the lookup consumer), for the next requests and connections.
pub(super) fn swap(
    producer: &Producer,
    cfg: &BridgeConfig,
) -> Result<CredentialsUndo, TlsSwitched> {
    #[cfg(feature = "tls")]
    let tls = {
        let running = producer.config().connection.tls.as_ref();
        let new = cfg.tls.as_ref().and_then(|t| t.connector.as_ref());
        match (running, new) {
            (Some(running), Some(new)) => {
                let old = running.detached();
                running.replace_with(new);
                Some(old)
            }
            (None, None) => None,
            (_, new) => return Err(TlsSwitched { now: new.is_some() }),
        }
    };
    let acl = producer.shared_acl().set(cfg.acl.clone());
    let changed =
        |a: &Option<Arc<crate::remoting::AclCredentials>>| a.as_deref() != cfg.acl.as_ref();
    if changed(&acl) {
        log::info!(
            "bridge reload: ACL credentials replaced (access key {:?})",
            cfg.acl.as_ref().map(|a| a.access_key.as_str())
        );
    }
    #[cfg(feature = "tls")]
    if tls.is_some() {
        log::info!("bridge reload: TLS files re-read; new connections use them");
    }
    Ok(CredentialsUndo {
        acl,
        #[cfg(feature = "tls")]
        tls,
    })
}
