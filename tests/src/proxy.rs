//! A real HTTP `CONNECT` proxy for tests (threads and blocking sockets): it tunnels to any
//! `host:port` asked for and records each target, so a test can tell that a plugin went
//! through the kubeconfig's proxy instead of around it.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// A running proxy on 127.0.0.1; it stops with the test process.
pub struct ConnectProxy {
    /// Its port.
    pub port: u16,
    targets: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    /// Starts the proxy.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = seen.clone();
                thread::spawn(move || {
                    let _ = tunnel(client, &seen);
                });
            }
        });
        Ok(ConnectProxy { port, targets })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `host:port` of every tunnel asked for so far.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().expect("targets").clone()
    }
}

/// Reads `CONNECT host:port HTTP/1.1` and its headers, connects, answers 200 and copies both
/// ways until either side closes.
fn tunnel(client: TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = match line.split_whitespace().collect::<Vec<_>>()[..] {
        ["CONNECT", target, _] => target.to_string(),
        _ => {
            (&client).write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")?;
            return Ok(());
        }
    };
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    seen.lock().expect("targets").push(target.clone());
    let upstream = match TcpStream::connect(&target) {
        Ok(s) => s,
        Err(_) => {
            (&client).write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")?;
            return Ok(());
        }
    };
    (&client).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    // Bytes the client sent right after its request (a TLS ClientHello) are in the reader.
    let early = reader.buffer().to_vec();
    (&upstream).write_all(&early)?;
    let (mut from_client, mut to_upstream) = (reader.into_inner(), upstream.try_clone()?);
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let (mut from_upstream, mut to_client) = (upstream, client);
    let _ = std::io::copy(&mut from_upstream, &mut to_client);
    let _ = to_client.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}
