//! GET_ROUTEINFO_BY_TOPIC over a list of name servers with failover.

use super::route::TopicRouteData;
use super::Error;
use crate::remoting::acl::{AclCredentials, SharedAcl};
use crate::remoting::codes::{GET_ROUTEINFO_BY_TOPIC, SUCCESS, TOPIC_NOT_EXIST};
use crate::remoting::{Connection, ConnectionConfig, RemotingCommand};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Talks to a list of name servers. A name server that fails is moved to the end of the order, so
/// a dead one costs at most one connect timeout and is then tried last.
pub struct NameServerClient {
    cfg: ConnectionConfig,
    timeout: Duration,
    acl: SharedAcl,
    state: Mutex<State>,
}

struct State {
    order: Vec<String>,
    conns: HashMap<String, Arc<Connection>>,
}

impl std::fmt::Debug for NameServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameServerClient")
            .field("order", &self.state.lock().order)
            .finish()
    }
}

impl NameServerClient {
    /// A client for `addrs` (each "host:port"), with a per-request `timeout`.
    pub fn new(
        addrs: Vec<String>,
        cfg: ConnectionConfig,
        timeout: Duration,
        acl: Option<Arc<AclCredentials>>,
    ) -> Self {
        NameServerClient::with_shared_acl(addrs, cfg, timeout, SharedAcl::from_arc(acl))
    }

    /// As [`NameServerClient::new`], signing with `acl`'s credentials current at each request
    /// (shared with a producer or consumer, replaced by a config reload).
    pub fn with_shared_acl(
        addrs: Vec<String>,
        cfg: ConnectionConfig,
        timeout: Duration,
        acl: SharedAcl,
    ) -> Self {
        NameServerClient {
            cfg,
            timeout,
            acl,
            state: Mutex::new(State {
                order: addrs,
                conns: HashMap::new(),
            }),
        }
    }

    /// The addresses in their current order of preference.
    pub fn addrs(&self) -> Vec<String> {
        self.state.lock().order.clone()
    }

    /// Moves `addr` to the end of the order and forgets its connection. The connection is dropped
    /// (which closes it and joins its reader thread, however long the reader takes to stop) after
    /// the lock is released, so other lookups never wait for it.
    fn demote(&self, addr: &str) {
        let dropped = {
            let mut st = self.state.lock();
            let dropped = st.conns.remove(addr);
            if let Some(i) = st.order.iter().position(|a| a == addr) {
                let a = st.order.remove(i);
                st.order.push(a);
            }
            dropped
        };
        drop(dropped);
    }

    fn conn(&self, addr: &str) -> Result<Arc<Connection>, crate::remoting::Error> {
        let dead = {
            let mut st = self.state.lock();
            match st.conns.get(addr) {
                Some(c) if c.is_alive() => return Ok(Arc::clone(c)),
                // Taken out here, dropped (closed and joined) below without the lock.
                Some(_) => st.conns.remove(addr),
                None => None,
            }
        };
        drop(dead);
        let c = Arc::new(Connection::connect(addr, &self.cfg)?);
        let replaced = self
            .state
            .lock()
            .conns
            .insert(addr.to_owned(), Arc::clone(&c));
        drop(replaced);
        Ok(c)
    }

    /// Sends `cmd` to the first name server that answers, failing over on transport errors.
    ///
    /// # Errors
    /// [`Error::NoNameServer`], or [`Error::Unreachable`] with the last transport error.
    pub fn invoke(&self, cmd: &RemotingCommand) -> Result<(String, RemotingCommand), Error> {
        let order = self.addrs();
        if order.is_empty() {
            return Err(Error::NoNameServer);
        }
        let mut cmd = cmd.clone();
        self.acl.sign(&mut cmd);
        let mut last = None;
        for addr in &order {
            let res = self.conn(addr).and_then(|c| {
                cmd.opaque = crate::remoting::command::next_opaque();
                c.invoke(&cmd, self.timeout)
            });
            match res {
                Ok(resp) => return Ok((addr.clone(), resp)),
                Err(e) => {
                    log::warn!("name server failed addr={addr}: {e}");
                    self.demote(addr);
                    last = Some(e);
                }
            }
        }
        Err(Error::Unreachable {
            tried: order,
            last: last.expect("at least one address was tried"),
        })
    }

    /// Queries the route of `topic`. A name server whose route is malformed or over the caps is
    /// demoted and the next one asked (each at most once), so one broken name server among several
    /// does not keep the topic from resolving.
    ///
    /// # Errors
    /// [`Error::TopicNotExist`] (code 17), [`Error::Remote`] for other codes, [`Error::InvalidRoute`],
    /// [`Error::RouteNotJson`] or [`Error::RouteOverCap`] when every name server's route was
    /// refused, or the transport
    /// errors of [`NameServerClient::invoke`].
    pub fn query_route(&self, topic: &str) -> Result<TopicRouteData, Error> {
        let cmd = RemotingCommand::request(GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic);
        let tries = self.state.lock().order.len().max(1);
        let mut refused = None;
        for _ in 0..tries {
            let (addr, resp) = self.invoke(&cmd)?;
            match resp.code {
                SUCCESS => match TopicRouteData::from_json(&resp.body) {
                    Ok(route) => return Ok(route),
                    Err(e) => {
                        log::warn!("route refused, trying the next name server addr={addr} topic={topic}: {e}");
                        self.demote(&addr);
                        refused = Some(e);
                    }
                },
                TOPIC_NOT_EXIST => {
                    return Err(Error::TopicNotExist {
                        topic: topic.to_owned(),
                        default_tried: false,
                    })
                }
                code => {
                    return Err(Error::Remote {
                        addr,
                        code,
                        remark: resp.remark_clipped(),
                    })
                }
            }
        }
        Err(refused.expect("the loop ran at least once and every pass refused a route"))
    }
}
