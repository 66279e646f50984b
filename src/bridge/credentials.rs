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
    /// Puts back what [`swap`] replaced (the reload swaps last, once nothing can refuse it, so
    /// only the unit tests undo a swap).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn restore(self, producer: &Producer) {
        producer.shared_acl().set_arc(self.acl);
        #[cfg(feature = "tls")]
        if let (Some(old), Some(running)) = (self.tls, &producer.config().connection.tls) {
            running.replace_with(&old);
        }
    }
}

/// Refuses a reload that would turn TLS on or off, without changing anything.
pub(super) fn refuse_tls_switch(
    producer: &Producer,
    cfg: &BridgeConfig,
) -> Result<(), TlsSwitched> {
    #[cfg(feature = "tls")]
    {
        let running = producer.config().connection.tls.is_some();
        let new = cfg
            .tls
            .as_ref()
            .and_then(|t| t.connector.as_ref())
            .is_some();
        if running != new {
            return Err(TlsSwitched { now: new });
        }
    }
    #[cfg(not(feature = "tls"))]
    let _ = (producer, cfg);
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::ProducerConfig;
    use crate::remoting::AclCredentials;
    use std::time::Duration;

    fn producer(acl: Option<AclCredentials>) -> Producer {
        // Nothing is dialled: the name server is asked on first use only.
        Producer::start(
            ProducerConfig::new(&["127.0.0.1:1"], "credentials_unit")
                .heartbeat_interval(Duration::ZERO)
                .acl(acl),
        )
        .unwrap()
    }

    #[test]
    fn swap_replaces_the_acl_and_restore_puts_the_old_back() {
        let p = producer(Some(AclCredentials::new("ak-old", "s-old")));
        let cfg = BridgeConfig {
            acl: Some(AclCredentials::new("ak-new", "s-new")),
            ..BridgeConfig::default()
        };
        let undo = swap(&p, &cfg).unwrap();
        assert_eq!(p.shared_acl().get().unwrap().secret_key, "s-new");
        undo.restore(&p);
        assert_eq!(p.shared_acl().get().unwrap().secret_key, "s-old");
        // ACL off by a reload, then back.
        let undo = swap(&p, &BridgeConfig::default()).unwrap();
        assert!(!p.shared_acl().is_set());
        undo.restore(&p);
        assert_eq!(p.shared_acl().get().unwrap().access_key, "ak-old");
        p.close(Duration::from_millis(200));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn turning_tls_on_by_a_reload_is_refused_and_changes_nothing() {
        let p = producer(Some(AclCredentials::new("ak-old", "s-old")));
        let connector = crate::remoting::TlsConnector::new(&crate::remoting::TlsOptions {
            verify: false,
            ..crate::remoting::TlsOptions::default()
        })
        .unwrap();
        let tls = super::super::config::TlsSettings {
            connector: Some(connector),
            ..Default::default()
        };
        let cfg = BridgeConfig {
            tls: Some(tls),
            acl: Some(AclCredentials::new("ak-new", "s-new")),
            ..BridgeConfig::default()
        };
        assert!(matches!(swap(&p, &cfg), Err(TlsSwitched { now: true })));
        assert_eq!(p.shared_acl().get().unwrap().access_key, "ak-old");
        p.close(Duration::from_millis(200));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn swap_replaces_the_tls_configuration_and_restore_puts_the_old_back() {
        let named = |n: &str| {
            crate::remoting::TlsConnector::new(&crate::remoting::TlsOptions {
                verify: false,
                server_name: Some(n.to_owned()),
                ..crate::remoting::TlsOptions::default()
            })
            .unwrap()
        };
        let p = Producer::start(
            ProducerConfig::new(&["127.0.0.1:1"], "credentials_unit")
                .heartbeat_interval(Duration::ZERO)
                .tls(Some(named("old.example"))),
        )
        .unwrap();
        let running = || format!("{:?}", p.config().connection.tls.as_ref().unwrap());
        let tls = super::super::config::TlsSettings {
            connector: Some(named("new.example")),
            ..Default::default()
        };
        let cfg = BridgeConfig {
            tls: Some(tls),
            ..BridgeConfig::default()
        };
        let undo = swap(&p, &cfg).unwrap();
        assert!(running().contains("new.example"), "{}", running());
        undo.restore(&p);
        assert!(running().contains("old.example"), "{}", running());
        // Turning TLS off is refused as well.
        assert!(matches!(
            swap(&p, &BridgeConfig::default()),
            Err(TlsSwitched { now: false })
        ));
        p.close(Duration::from_millis(200));
    }
}
