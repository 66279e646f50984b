//! Route cache with a refresh thread: the producer looks routes up here; every interval the thread
//! re-queries every known topic, so brokers added or removed and queue or permission changes take
//! effect without restart. The last good route is kept while no name server answers, or while one
//! answers an error or a route that is malformed or over the caps of [`super::route`].

use super::client::NameServerClient;
use super::route::{TopicPublishInfo, TopicRouteData};
use super::{Error, DEFAULT_TOPIC};
use crate::util::worker::{Tick, Worker};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Route cache settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouteCacheConfig {
    /// How often every known route is refreshed. Defaults to 30 s (the seed's key
    /// `refresh_topic_route_interval`, default 5 s there).
    pub refresh_interval: Duration,
    /// Fall back to TBW102 for a topic that does not exist, so a broker with auto-creation creates
    /// it on the first send. Defaults to true.
    pub allow_default_topic: bool,
    /// Queues per broker for a topic created from TBW102. Defaults to 4.
    pub default_topic_queue_nums: i32,
}

impl Default for RouteCacheConfig {
    fn default() -> Self {
        RouteCacheConfig {
            refresh_interval: Duration::from_secs(30),
            allow_default_topic: true,
            default_topic_queue_nums: 4,
        }
    }
}

/// Routes by topic, shared by a producer's threads.
pub struct RouteCache {
    client: NameServerClient,
    cfg: RouteCacheConfig,
    routes: RwLock<HashMap<String, Arc<TopicPublishInfo>>>,
    /// Times a cached route was added, changed or removed ([`RouteCache::changes`]).
    changes: AtomicU64,
    refresher: Mutex<Option<Worker>>,
}

impl std::fmt::Debug for RouteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteCache")
            .field("topics", &self.routes.read().len())
            .finish()
    }
}

impl RouteCache {
    /// A cache over `client`, with its refresh thread started.
    pub fn start(client: NameServerClient, cfg: RouteCacheConfig) -> Arc<RouteCache> {
        let cache = Arc::new(RouteCache {
            client,
            cfg,
            routes: RwLock::new(HashMap::new()),
            changes: AtomicU64::new(0),
            refresher: Mutex::new(None),
        });
        let weak: Weak<RouteCache> = Arc::downgrade(&cache);
        let interval = cache.cfg.refresh_interval.max(Duration::from_millis(10));
        let worker = Worker::periodic("rmq-route-refresh", interval, move || {
            match weak.upgrade() {
                Some(c) => {
                    c.refresh_all();
                    Tick::Continue
                }
                None => Tick::Done,
            }
        })
        .expect("spawn route refresh thread");
        *cache.refresher.lock() = Some(worker);
        cache
    }

    /// The name-server client.
    pub fn client(&self) -> &NameServerClient {
        &self.client
    }

    /// The publish info of `topic`, from the cache or (first use) from the name servers.
    ///
    /// # Errors
    /// As [`RouteCache::fetch`].
    pub fn get(&self, topic: &str) -> Result<Arc<TopicPublishInfo>, Error> {
        if let Some(info) = self.routes.read().get(topic) {
            return Ok(Arc::clone(info));
        }
        self.fetch(topic)
    }

    /// The cached publish info of `topic` without any lookup.
    pub fn cached(&self, topic: &str) -> Option<Arc<TopicPublishInfo>> {
        self.routes.read().get(topic).cloned()
    }

    /// How many times a cached route was added, changed or removed: one atomic load, so a
    /// reader that keeps a copy of a route (the bridge's dispatcher) can check it per message
    /// and read the route again as soon as it moved. Raised after the cache holds the new route.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Queries the name servers for `topic` now and updates the cache. A missing topic falls back
    /// to TBW102 when allowed; when every name server is down, or the answer is an error, malformed
    /// or over the route caps, the last good route is returned.
    ///
    /// # Errors
    /// [`Error::TopicNotExist`] naming the topic (with `default_tried` when TBW102 was missing
    /// too), [`Error::NoWritableQueue`], or transport errors when nothing is cached.
    pub fn fetch(&self, topic: &str) -> Result<Arc<TopicPublishInfo>, Error> {
        let result = match self.client.query_route(topic) {
            Ok(route) => Ok(TopicPublishInfo::from_route(topic, route)),
            Err(Error::TopicNotExist { .. })
                if self.cfg.allow_default_topic && topic != DEFAULT_TOPIC =>
            {
                match self.client.query_route(DEFAULT_TOPIC) {
                    Ok(tbw) => Ok(self.default_info(topic, tbw)),
                    Err(Error::TopicNotExist { .. }) => Err(Error::TopicNotExist {
                        topic: topic.to_owned(),
                        default_tried: true,
                    }),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(info) if info.is_empty() => Err(Error::NoWritableQueue {
                topic: topic.to_owned(),
            }),
            Ok(info) => {
                let info = Arc::new(info);
                let old = self
                    .routes
                    .write()
                    .insert(topic.to_owned(), Arc::clone(&info));
                if old.as_deref() != Some(&*info) {
                    self.changes.fetch_add(1, Ordering::Release);
                    log::debug!(
                        "route changed topic={topic} queues={} brokers={:?}",
                        info.queues.len(),
                        info.masters
                    );
                }
                Ok(info)
            }
            // A name server that cannot be reached, answers an error, or answers a route that is
            // malformed or over the caps leaves the last good route in place: such an answer says
            // nothing about the brokers, and dropping the route would fail every send.
            Err(
                e @ (Error::Unreachable { .. }
                | Error::Remote { .. }
                | Error::InvalidRoute { .. }
                | Error::RouteNotJson(_)
                | Error::RouteOverCap { .. }),
            ) => match self.cached(topic) {
                Some(old) => {
                    log::warn!(
                        "route refresh failed, keeping the last good route topic={topic}: {e}"
                    );
                    Ok(old)
                }
                None => Err(e),
            },
            Err(e) => {
                // The topic is gone or unwritable now: forget the old route so sends fail clearly.
                if self.routes.write().remove(topic).is_some() {
                    self.changes.fetch_add(1, Ordering::Release);
                }
                Err(e)
            }
        }
    }

    fn default_info(&self, topic: &str, tbw: TopicRouteData) -> TopicPublishInfo {
        TopicPublishInfo::from_default_route(topic, tbw, self.cfg.default_topic_queue_nums)
    }

    /// The master addresses of every cached route: the brokers some known topic is routed to now.
    pub fn master_addrs(&self) -> std::collections::HashSet<String> {
        self.routes
            .read()
            .values()
            .flat_map(|info| info.masters.values().cloned())
            .collect()
    }

    /// Refreshes every cached topic (the refresh thread calls this every interval).
    pub fn refresh_all(&self) {
        let topics: Vec<String> = self.routes.read().keys().cloned().collect();
        for t in topics {
            if let Err(e) = self.fetch(&t) {
                log::warn!("route refresh failed topic={t}: {e}");
            }
        }
    }

    /// Stops the refresh thread and waits for it.
    pub fn stop(&self) {
        if let Some(w) = self.refresher.lock().take() {
            // The last reference may go on the refresh thread itself: then only signal.
            if !w.is_current() {
                w.join();
            }
        }
    }
}

impl Drop for RouteCache {
    fn drop(&mut self) {
        self.stop();
    }
}
