//! The native transport (tokio + tokio-tungstenite).
