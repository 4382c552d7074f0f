//! The native transport against a hostile server: a panic while handling a frame (here in a row
//! type's primary key) must not leave the connection unusable.
#![cfg(feature = "native")]

#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/hostile_server.rs"]
mod hostile_server;

use hostile::{HostileRow, PoisonRow};
use std::time::Duration;
use stdb_client::native::NativeConnection;
use stdb_client::{
    ClientCore, ConnectOptions, ConnectionStatus, Event, FrameError, ReducerOutcome,
};
use tokio::time::timeout;

fn register(core: &mut ClientCore) {
    core.register_table::<HostileRow>();
    core.register_table::<PoisonRow>();
}

const WAIT: Duration = Duration::from_secs(20);

async fn hostile_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(hostile_server::serve(listener));
    url
}

#[tokio::test]
async fn a_panic_while_handling_a_frame_rebuilds_the_state_and_reconnects() {
    let url = hostile_server().await;
    let mut options = ConnectOptions::new(&url, "panic-native");
    options.request_timeout = Duration::from_millis(300);
    let (connection, mut events) = NativeConnection::connect(&options, register)
        .await
        .expect("connects");
    timeout(WAIT, async {
        loop {
            match events.recv().await.expect("events flow") {
                Event::FrameError(FrameError::Panicked(message)) => {
                    assert!(message.contains("a poisoned row"), "{message}");
                    break;
                }
                _ => continue,
            }
        }
    })
    .await
    .expect("the panic is reported");
    // A new socket, where the server sends a good row.
    timeout(WAIT, async {
        while connection.with_table::<HostileRow, _>(|t| t.len()) != Some(1) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the row sent on the new socket arrives");
    assert!(matches!(
        connection.status(),
        ConnectionStatus::Connected(_)
    ));
    // Later calls work (the hostile server never answers them: they time out).
    let outcome = timeout(WAIT, connection.call_reducer("anything", &(1u32,)))
        .await
        .expect("no hang")
        .expect("the call is made");
    assert_eq!(outcome, ReducerOutcome::TimedOut);
    connection.close();
}

/// The frames of the issue, over a real socket: errors, then a good row still applies.
#[tokio::test]
async fn hostile_frames_over_a_socket_end_as_errors_and_the_connection_goes_on() {
    let url = hostile_server().await;
    let options = ConnectOptions::new(&url, "bombs");
    let (connection, mut events) = NativeConnection::connect(&options, register)
        .await
        .expect("connects");
    let errors = timeout(Duration::from_secs(120), async {
        // Events come in the order of the frames: the row comes last.
        let mut errors = Vec::new();
        loop {
            match events.recv().await.expect("events flow") {
                Event::FrameError(error) => errors.push(error),
                Event::RowsChanged(changes) if changes.table == hostile::TABLE => break,
                _ => continue,
            }
        }
        errors
    })
    .await
    .expect("the good row arrives after the bombs");
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(
        errors.iter().all(|e| !matches!(e, FrameError::Panicked(_))),
        "{errors:?}"
    );
    assert_eq!(connection.with_table::<HostileRow, _>(|t| t.len()), Some(1));
    assert!(matches!(
        connection.status(),
        ConnectionStatus::Connected(_)
    ));
    connection.close();
}
