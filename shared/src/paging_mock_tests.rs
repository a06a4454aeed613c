//! [`list_paged`] against a **mock API server**: kube's mock service (`tower-test`) behind a
//! real `kube::Client`, answering LISTs of ConfigMaps in pages the way kube-rs's
//! `ApiServerVerifier` examples do. A mock, because an expired continue token cannot be made
//! to happen on demand at a chosen page of a real API server without stopping it between two
//! requests; `tests/tests/it/certs_scale_e2e.rs` makes a real one expire (etcd compaction).
//! Every request is recorded so the tests assert what was asked (limit, continue).

use std::collections::BTreeSet;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::client::Body;
use serde_json::{Value, json};

use super::{ListSummary, PageSink, PagingError, list_paged};

/// One LIST request the mock received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Asked {
    limit: Option<usize>,
    continue_token: Option<String>,
    label_selector: Option<String>,
}

/// How the mock behaves.
#[derive(Debug, Clone, Default)]
struct Script {
    /// Objects in the collection at first.
    items: usize,
    /// The mock's own page size cap (a server may return fewer than asked), if any.
    server_cap: Option<usize>,
    /// Which requests carrying a continue token (counted from 1 over the whole exchange)
    /// answer 410 Expired.
    expire: BTreeSet<usize>,
    /// Objects deleted (by index) when the first token expires, to check a relist does not
    /// keep what the first attempt saw.
    delete_on_expiry: Vec<usize>,
    /// Answer the request with this number (from 1) with a 500.
    fail_request: Option<usize>,
}

/// A mock Kubernetes API server serving `configmaps` in namespace `mock`.
struct MockPagingApiServer {
    handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
}

fn config_map(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": format!("cm-{i:03}"), "namespace": "mock", "resourceVersion": "7"}})
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "code": code, "reason": reason, "message": message})
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%2C", ",").replace("%3D", "="))
    })
}

impl MockPagingApiServer {
    fn new() -> (MockPagingApiServer, Client) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        (MockPagingApiServer { handle }, Client::new(service, "mock"))
    }

    /// Serves until the client goes away; returns the requests it got.
    fn run(mut self, script: Script) -> tokio::task::JoinHandle<Vec<Asked>> {
        tokio::spawn(async move {
            let mut live: Vec<usize> = (0..script.items).collect();
            let mut asked = Vec::new();
            let mut continues = 0;
            while let Some((request, send)) = self.handle.next_request().await {
                assert_eq!(request.method(), "GET");
                assert_eq!(request.uri().path(), "/api/v1/namespaces/mock/configmaps");
                let query = request.uri().query().unwrap_or_default().to_string();
                let a = Asked {
                    limit: query_param(&query, "limit").map(|l| l.parse().unwrap()),
                    continue_token: query_param(&query, "continue"),
                    label_selector: query_param(&query, "labelSelector"),
                };
                asked.push(a.clone());
                let (code, body) = if script.fail_request == Some(asked.len()) {
                    (500, status(500, "InternalError", "etcd is down"))
                } else if a.continue_token.is_some() && {
                    continues += 1;
                    script.expire.contains(&continues)
                } {
                    live.retain(|i| !script.delete_on_expiry.contains(i));
                    (
                        410,
                        status(
                            410,
                            "Expired",
                            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                        ),
                    )
                } else {
                    let start: usize = a
                        .continue_token
                        .as_deref()
                        .map(|t| t.trim_start_matches("offset-").parse().unwrap())
                        .unwrap_or(0);
                    let take = [a.limit, script.server_cap]
                        .into_iter()
                        .flatten()
                        .min()
                        .unwrap_or(usize::MAX);
                    let end = start.saturating_add(take).min(live.len());
                    let items: Vec<Value> =
                        live[start..end].iter().map(|&i| config_map(i)).collect();
                    let mut metadata = json!({"resourceVersion": "7"});
                    if end < live.len() {
                        metadata["continue"] = json!(format!("offset-{end}"));
                    }
                    (
                        200,
                        json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": metadata, "items": items}),
                    )
                };
                let response = Response::builder()
                    .status(StatusCode::from_u16(code).unwrap())
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
            asked
        })
    }
}

/// A sink that records what it was given: the names of each page, and restarts as `None`.
#[derive(Default)]
struct Recording {
    events: Vec<Option<Vec<String>>>,
    /// The caller's state: names seen in the current listing.
    names: Vec<String>,
}

impl PageSink<ConfigMap> for Recording {
    fn page(&mut self, items: Vec<ConfigMap>) {
        let names: Vec<String> = items
            .into_iter()
            .map(|c| c.metadata.name.unwrap_or_default())
            .collect();
        self.names.extend(names.iter().cloned());
        self.events.push(Some(names));
    }

    fn restart(&mut self) {
        self.names.clear();
        self.events.push(None);
    }
}

async fn exchange(
    script: Script,
    chunk_size: u32,
    params: ListParams,
) -> (Result<ListSummary, PagingError>, Recording, Vec<Asked>) {
    let (mock, client) = MockPagingApiServer::new();
    let server = mock.run(script);
    let api: Api<ConfigMap> = Api::namespaced(client, "mock");
    let mut sink = Recording::default();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        list_paged(&api, &params, chunk_size, &mut sink),
    )
    .await
    .expect("the LIST finished");
    drop(api);
    let asked = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("mock stopped")
        .unwrap();
    (result, sink, asked)
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("cm-{i:03}")).collect()
}

#[tokio::test]
async fn mock_pages_are_joined_in_order_following_continue() {
    let script = Script {
        items: 10,
        ..Script::default()
    };
    let (result, sink, asked) = exchange(script, 3, ListParams::default().labels("app=x")).await;
    let summary = result.unwrap();
    assert_eq!(
        summary,
        ListSummary {
            pages: 4,
            items: 10,
            relisted: false
        }
    );
    assert_eq!(sink.names, names(0..10));
    let pages: Vec<usize> = sink
        .events
        .iter()
        .map(|p| p.as_ref().unwrap().len())
        .collect();
    assert_eq!(pages, [3, 3, 3, 1]);
    let tokens: Vec<Option<&str>> = asked.iter().map(|a| a.continue_token.as_deref()).collect();
    assert_eq!(
        tokens,
        [None, Some("offset-3"), Some("offset-6"), Some("offset-9")]
    );
    // The selector goes with every page.
    assert!(
        asked
            .iter()
            .all(|a| a.label_selector.as_deref() == Some("app=x"))
    );
}

#[tokio::test]
async fn mock_limit_is_sent_on_every_page_and_a_short_server_page_is_followed() {
    // The server caps pages at 2 although 4 were asked: still every item, every request with
    // limit=4, no page bigger than the limit.
    let script = Script {
        items: 7,
        server_cap: Some(2),
        ..Script::default()
    };
    let (result, sink, asked) = exchange(script, 4, ListParams::default()).await;
    assert_eq!(result.unwrap().items, 7);
    assert_eq!(sink.names, names(0..7));
    assert_eq!(asked.len(), 4);
    assert!(asked.iter().all(|a| a.limit == Some(4)), "{asked:?}");
    assert!(
        sink.events
            .iter()
            .all(|p| p.as_ref().is_some_and(|p| p.len() <= 4))
    );
}

#[tokio::test]
async fn mock_chunk_size_zero_is_one_request_without_limit() {
    let script = Script {
        items: 1200,
        ..Script::default()
    };
    let (result, sink, asked) = exchange(script, 0, ListParams::default()).await;
    assert_eq!(result.unwrap().pages, 1);
    assert_eq!(sink.names.len(), 1200);
    assert_eq!(
        asked,
        [Asked {
            limit: None,
            continue_token: None,
            label_selector: None
        }]
    );
}

#[tokio::test]
async fn mock_expired_continue_token_relists_once_and_the_sink_starts_over() {
    // 10 items in pages of 3; the second continue (page 3) expires, and items 0 and 4 are
    // deleted meanwhile. The relist must deliver the 8 remaining items exactly once, and the
    // sink must have been told to forget the 6 it got before.
    let script = Script {
        items: 10,
        expire: BTreeSet::from([2]),
        delete_on_expiry: vec![0, 4],
        ..Script::default()
    };
    let (result, sink, asked) = exchange(script, 3, ListParams::default()).await;
    let summary = result.unwrap();
    assert!(summary.relisted);
    assert_eq!(summary.items, 8);
    let expected: Vec<String> = [1, 2, 3, 5, 6, 7, 8, 9]
        .iter()
        .map(|i| format!("cm-{i:03}"))
        .collect();
    assert_eq!(sink.names, expected);
    // Two pages, the restart, then the whole relist from a request without a token.
    assert_eq!(sink.events.len(), 2 + 1 + 3);
    assert_eq!(sink.events[2], None);
    let tokens: Vec<Option<&str>> = asked.iter().map(|a| a.continue_token.as_deref()).collect();
    assert_eq!(
        tokens,
        [
            None,
            Some("offset-3"),
            Some("offset-6"),
            None,
            Some("offset-3"),
            Some("offset-6")
        ]
    );
}

#[tokio::test]
async fn mock_second_expiry_is_an_error_not_another_relist() {
    let script = Script {
        items: 10,
        expire: BTreeSet::from([2, 3]),
        ..Script::default()
    };
    let (result, sink, asked) = exchange(script, 3, ListParams::default()).await;
    match result {
        Err(PagingError::ExpiredAgain {
            page,
            limit,
            source,
        }) => {
            assert_eq!((page, limit), (1, 3));
            assert!(super::is_expired(&source));
        }
        other => panic!("expected ExpiredAgain, got {other:?}"),
    }
    assert_eq!(sink.events.iter().filter(|e| e.is_none()).count(), 1);
    assert_eq!(asked.len(), 5, "{asked:?}");
    let err = super::PagingError::ExpiredAgain {
        page: 1,
        limit: 3,
        source: kube::Error::Api(Box::new(kube::core::Status {
            code: 410,
            reason: "Expired".into(),
            ..Default::default()
        })),
    }
    .into_error("list configmaps in namespace mock");
    assert!(
        err.to_string()
            .starts_with("list configmaps in namespace mock: the continue token expired again"),
        "{err}"
    );
    assert!(err.hint().is_some_and(|h| h.contains("--chunk-size")));
}

#[tokio::test]
async fn mock_other_errors_end_the_list_without_relisting() {
    let script = Script {
        items: 10,
        fail_request: Some(2),
        ..Script::default()
    };
    let (result, sink, asked) = exchange(script, 3, ListParams::default()).await;
    match result {
        Err(PagingError::Request { page: 2, source }) => {
            assert!(matches!(source, kube::Error::Api(s) if s.code == 500))
        }
        other => panic!("expected a failed page 2, got {other:?}"),
    }
    assert!(sink.events.iter().all(Option::is_some));
    assert_eq!(asked.len(), 2);
}

#[test]
fn vec_sink_keeps_only_the_final_listing() {
    let mut v: Vec<u8> = Vec::new();
    PageSink::page(&mut v, vec![1, 2]);
    PageSink::restart(&mut v);
    PageSink::page(&mut v, vec![3]);
    assert_eq!(v, [3]);
}
