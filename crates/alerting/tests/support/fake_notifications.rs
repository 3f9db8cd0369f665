//! A notification server for tests: owns `org.freedesktop.Notifications` on a session bus and
//! records every notification. Shared by the core's notifier tests and the desktop app's
//! end-to-end tests (`#[path]`-included).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zbus::OwnedVariant as OwnedValue;
use zbus::object_server::SignalEmitter;

#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Captured {
    pub app: String,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub urgency: Option<u8>,
    pub sound: Option<String>,
    pub sound_file: Option<String>,
    pub suppress_sound: bool,
    /// Milliseconds; 0: never expires (stays until acted on), -1: the server's default.
    pub expire_timeout: i32,
    /// The notification this one replaces in place (0: none), as the client asked.
    pub replaces_id: u32,
    /// The id the server answered: the replaced one's, or a new one.
    pub id: u32,
}

pub struct FakeServer {
    pub seen: Arc<Mutex<Vec<Captured>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl FakeServer {
    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "body-markup".into(), "actions".into()]
    }

    #[zbus(out_args("name", "vendor", "version", "spec_version"))]
    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "fake".into(),
            "lookout-tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
        let text = |name: &str| {
            hints
                .get(name)
                .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
        };
        let sound = text("sound-name");
        let sound_file = text("sound-file");
        let suppress_sound = hints
            .get("suppress-sound")
            .and_then(|v| bool::try_from(v.try_clone().ok()?).ok())
            .unwrap_or(false);
        let mut seen = self.seen.lock().unwrap();
        // As the specification says: a replacement keeps the id it replaces.
        let id = if replaces_id != 0 {
            replaces_id
        } else {
            seen.iter().map(|c| c.id).max().unwrap_or(0) + 1
        };
        seen.push(Captured {
            app: app_name,
            summary,
            body,
            actions,
            urgency,
            sound,
            sound_file,
            suppress_sound,
            expire_timeout,
            replaces_id,
            id,
        });
        id
    }

    fn close_notification(&self, _id: u32) {}

    #[zbus(signal)]
    pub async fn action_invoked(
        emitter: &SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn notification_closed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;
}

/// Serve a [`FakeServer`] on the bus at `address`; the connection keeps it alive.
#[allow(dead_code)]
pub fn serve(address: &str, seen: Arc<Mutex<Vec<Captured>>>) -> zbus::Connection {
    zbus::block_on(async {
        zbus::connection::Builder::address(address)
            .name("org.freedesktop.Notifications")
            .serve_at("/org/freedesktop/Notifications", FakeServer { seen })
            .build()
            .await
    })
    .expect("the fake notification server owns its name")
}

/// The person chose `action` on notification `id` (ids count from 1 in arrival order; a
/// replacement keeps the id it replaces).
#[allow(dead_code)]
pub fn choose(server: &zbus::Connection, id: u32, action: &str) {
    zbus::block_on(async {
        let iface = server
            .object_server()
            .interface::<_, FakeServer>("/org/freedesktop/Notifications")
            .await
            .expect("the fake server is served");
        FakeServer::action_invoked(iface.signal_emitter(), id, action)
            .await
            .expect("the signal is sent");
    })
}
