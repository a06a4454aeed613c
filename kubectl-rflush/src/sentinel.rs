//! Redis Sentinel: ask a Sentinel where a master is. The URL's credentials are the master's;
//! a Sentinel often has no password of its own (it then refuses them), or one of its own
//! (`--sentinel-password`).

use anyhow::Result;
use redis::aio::MultiplexedConnection;
use redis::{ConnectionInfo, RedisConnectionInfo};
use shared::Error;

use crate::connect::{config, explain};

/// The `(host, port)` of master `master` according to the Sentinel at `url_info`.
pub async fn master_address(
    url_info: &ConnectionInfo,
    sentinel_password: Option<&str>,
    master: &str,
    label: &str,
) -> Result<(String, u16)> {
    let mut conn = connect(url_info, sentinel_password, label).await?;
    let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(master)
        .query_async(&mut conn)
        .await
        .map_err(|e| explain(e, label))?;
    addr.ok_or_else(|| {
        Error::invalid(
            format!("Sentinel at {label} knows no master named {master:?}"),
            "list them with SENTINEL MASTERS",
        )
        .into()
    })
}

/// Connects to the Sentinel the URL points at. `sentinel_password` is the Sentinel's own;
/// without it the URL's credentials (the master's) are tried, and when the Sentinel refuses
/// them — a Sentinel often has no password of its own — it is asked again without any.
async fn connect(
    url_info: &ConnectionInfo,
    sentinel_password: Option<&str>,
    label: &str,
) -> Result<MultiplexedConnection> {
    let bare = RedisConnectionInfo::default().set_protocol(url_info.redis_settings().protocol());
    // Connected and answering PING: without credentials a connection opens even where a
    // password is required, and only the first command says NOAUTH.
    let connect = |info: ConnectionInfo| async move {
        let mut conn = redis::Client::open(info)?
            .get_multiplexed_async_connection_with_config(&config())
            .await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok::<_, redis::RedisError>(conn)
    };
    let first = match sentinel_password {
        Some(password) => url_info
            .clone()
            .set_redis_settings(bare.clone().set_password(password)),
        None => url_info.clone(),
    };
    let has_credentials = first.redis_settings().password().is_some();
    match connect(first).await {
        Ok(conn) => Ok(conn),
        Err(refused)
            if sentinel_password.is_none()
                && has_credentials
                && refused.kind() == redis::ErrorKind::AuthenticationFailed =>
        {
            connect(url_info.clone().set_redis_settings(bare))
                .await
                .map_err(|again| {
                    if again.to_string().to_ascii_lowercase().contains("noauth") {
                        Error::invalid(
                            format!("the Sentinel at {label} refused the URL's credentials and wants a password of its own"),
                            "give the Sentinel's password with --sentinel-password (or REDIS_SENTINEL_PASSWORD); the URL's stays the master's",
                        )
                        .into()
                    } else {
                        explain(again, label)
                    }
                })
        }
        Err(e) => Err(explain(e, label)),
    }
}
