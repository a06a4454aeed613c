//! Paged LIST: read a large collection in chunks (`limit` + `continue`), like kubectl's
//! `--chunk-size`, handing each page to the caller while the next one is fetched (never more
//! than two pages in memory), so that no one ever has to hold every object of a cluster with
//! tens of thousands of them.
//!
//! # Expired continue tokens
//!
//! A continue token pins the LIST to the etcd revision of its first page. When etcd compacts
//! past that revision before the LIST is done (the API server compacts every 5 minutes; a slow
//! reader of a busy cluster can outlive that), the next page answers `410 Gone` with reason
//! `Expired`. kubectl stops there with an error. [`list_paged`] instead starts the LIST again
//! from the first page, **once**: a second expiry is an error ([`PagingError::ExpiredAgain`]),
//! since a collection that changes faster than it can be read would otherwise be re-read forever.
//!
//! The relist must not count the items of the first attempt twice, nor keep items that were
//! deleted in between. That is why a [`PageSink`] has two methods: [`PageSink::page`] receives
//! the items, and [`PageSink::restart`] is called before the relist, so that the caller drops
//! everything it derived from the pages it got so far. Every implementation has to decide what
//! that means for its state; the compiler makes sure it is not forgotten.

use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;

/// kubectl's default `--chunk-size`: items per page.
pub const DEFAULT_CHUNK_SIZE: u32 = 500;

/// `--chunk-size N`, as kubectl has it, for commands that LIST many objects.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct ChunkSizeArg {
    /// Read large lists in pages of N items, as kubectl does; 0 reads everything in one request [default: 500].
    #[arg(long, value_name = "N")]
    pub chunk_size: Option<u32>,
}

impl ChunkSizeArg {
    /// The page size: the flag's, else [`DEFAULT_CHUNK_SIZE`].
    pub fn get(&self) -> u32 {
        self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE)
    }
}

/// Receives the items of a paged LIST, a page at a time.
pub trait PageSink<K> {
    /// One page of items, in the server's order (pages arrive in order too).
    fn page(&mut self, items: Vec<K>);

    /// The LIST starts again from its first page (the continue token expired): forget every
    /// item, and everything derived from them, that [`PageSink::page`] received until now.
    fn restart(&mut self);
}

/// A `Vec` collects every item; a restart empties it.
impl<K> PageSink<K> for Vec<K> {
    fn page(&mut self, items: Vec<K>) {
        self.extend(items);
    }

    fn restart(&mut self) {
        self.clear();
    }
}

/// What a paged LIST did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListSummary {
    /// Pages delivered to the sink, counting those of an abandoned first attempt.
    pub pages: usize,
    /// Items in the final, complete listing (without an abandoned first attempt's).
    pub items: usize,
    /// Whether the continue token expired once and the LIST was started again.
    pub relisted: bool,
}

/// Why a paged LIST failed.
#[derive(Debug, thiserror::Error)]
pub enum PagingError {
    /// A page could not be fetched.
    #[error("LIST request for page {page} failed")]
    Request {
        /// The 1-based page that failed (of the current attempt).
        page: usize,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// The continue token expired a second time, during the relist.
    #[error(
        "the continue token expired again (HTTP 410) after page {page} of the relist: the objects change faster than pages of {limit} can be read"
    )]
    ExpiredAgain {
        /// The page after which the token expired (1-based).
        page: usize,
        /// The page size in use.
        limit: u32,
        /// The 410 answer.
        #[source]
        source: kube::Error,
    },
}

impl PagingError {
    /// The Kubernetes API error underneath.
    pub fn kube_error(&self) -> &kube::Error {
        match self {
            PagingError::Request { source, .. } | PagingError::ExpiredAgain { source, .. } => {
                source
            }
        }
    }

    /// The suite's error for this failure, `action` saying what was being listed
    /// (e.g. "list secrets in all namespaces"). A failed request keeps the Kubernetes error's
    /// hint (RBAC, reachability); a second expiry suggests bigger pages.
    pub fn into_error(self, action: impl Into<String>) -> crate::Error {
        let action = action.into();
        match self {
            PagingError::Request { source, .. } => crate::Error::kube(action, source),
            e @ PagingError::ExpiredAgain { .. } => crate::Error::failed(
                format!("{action}: {e}"),
                Some(
                    "retry, or read bigger pages with a larger --chunk-size (--chunk-size 0 reads everything in one request)"
                        .into(),
                ),
                match e {
                    PagingError::ExpiredAgain { source, .. } => Some(Box::new(source)),
                    PagingError::Request { .. } => None,
                },
            ),
        }
    }
}

/// Whether `err` is the API server's answer to an expired continue token: `410 Gone` (reason
/// `Expired` from Kubernetes' storage layer; `Gone`/`ResourceExpired` elsewhere). Only asked
/// about a request that carried a continue token.
pub fn is_expired(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 410)
}

/// LISTs `api` with `params` in pages of `chunk_size` items (0: one request, no paging),
/// following `continue` tokens, and hands each page to `sink` while the next is fetched.
///
/// If the continue token expires (see the module documentation), calls
/// [`PageSink::restart`] and lists again from the first page, once. `params.limit` and
/// `params.continue_token` are ignored; everything else (selectors) is sent as given.
pub async fn list_paged<K, S>(
    api: &Api<K>,
    params: &ListParams,
    chunk_size: u32,
    sink: &mut S,
) -> Result<ListSummary, PagingError>
where
    K: Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    S: PageSink<K> + ?Sized,
{
    let mut summary = ListSummary::default();
    loop {
        match one_listing(api, params, chunk_size, sink, &mut summary).await {
            Ok(items) => {
                summary.items = items;
                return Ok(summary);
            }
            Err(Attempt::Expired { page, source }) => {
                if summary.relisted {
                    return Err(PagingError::ExpiredAgain {
                        page,
                        limit: chunk_size,
                        source,
                    });
                }
                summary.relisted = true;
                sink.restart();
            }
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
}

/// Why one pass over the pages stopped early.
enum Attempt {
    /// The continue token given after page `page` expired.
    Expired { page: usize, source: kube::Error },
    /// Anything else.
    Failed(PagingError),
}

/// A page being fetched in the background; aborted if dropped unawaited.
struct Pending<K: Clone>(tokio::task::JoinHandle<kube::Result<kube::api::ObjectList<K>>>);

impl<K: Clone> Drop for Pending<K> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<K> Pending<K>
where
    K: Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    fn start(api: &Api<K>, lp: &ListParams) -> Self {
        let (api, lp) = (api.clone(), lp.clone());
        Pending(tokio::spawn(async move { api.list(&lp).await }))
    }

    async fn result(mut self) -> kube::Result<kube::api::ObjectList<K>> {
        match (&mut self.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(kube::Error::Service(Box::new(e))),
        }
    }
}

/// One pass from the first page to the last; the number of items delivered. The next page is
/// requested before the current one goes to the sink, so the API server prepares it while the
/// caller works on this one (at most two pages are held).
async fn one_listing<K, S>(
    api: &Api<K>,
    params: &ListParams,
    chunk_size: u32,
    sink: &mut S,
    summary: &mut ListSummary,
) -> Result<usize, Attempt>
where
    K: Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    S: PageSink<K> + ?Sized,
{
    let mut lp = params.clone();
    lp.limit = (chunk_size > 0).then_some(chunk_size);
    lp.continue_token = None;
    let mut items = 0;
    let mut pending = Pending::start(api, &lp);
    for page in 1.. {
        let list = match pending.result().await {
            Ok(list) => list,
            Err(source) if lp.continue_token.is_some() && is_expired(&source) => {
                return Err(Attempt::Expired {
                    page: page - 1,
                    source,
                });
            }
            Err(source) => return Err(Attempt::Failed(PagingError::Request { page, source })),
        };
        items += list.items.len();
        summary.pages += 1;
        let next = match list.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) if chunk_size > 0 => {
                lp.continue_token = Some(token);
                Some(Pending::start(api, &lp))
            }
            _ => None,
        };
        sink.page(list.items);
        match next {
            Some(next) => pending = next,
            None => break,
        }
    }
    Ok(items)
}

#[cfg(test)]
#[path = "paging_mock_tests.rs"]
mod mock_tests;
