//! Recordings of live snapshots, for replaying rules over what really happened
//! (`lookout record`, `lookout rules replay`).
//!
//! JSON lines. A `columns` line names the grid columns (again whenever they change); every
//! other line is one snapshot with its rows as arrays in that column order:
//!
//! ```text
//! {"columns":{"services":["name","in_calls_waiting"],"agents":["login_id","acd_state"]}}
//! {"at":1700000000,"totals":{"in_calls_waiting":3},"services":[["Sales",3]],"agents":[["anna","ready"]],"chat":[],"availability":{"Sales":true}}
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::snapshot::{ChatMessage, Grid, Snapshot, Value};

#[derive(Serialize, Deserialize, Default, PartialEq)]
struct Columns {
    services: Vec<String>,
    agents: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Record {
    at: i64,
    totals: BTreeMap<String, Json>,
    services: Vec<Vec<Json>>,
    agents: Vec<Vec<Json>>,
    chat: Vec<RecordedChat>,
    availability: BTreeMap<String, bool>,
}

#[derive(Serialize, Deserialize)]
struct RecordedChat {
    id: String,
    login_id: String,
    first_name: String,
    last_name: String,
    send_time: Option<i64>,
    is_urgent: bool,
    content: String,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Columns { columns: Columns },
    Record(Box<Record>),
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::None => Json::Null,
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Text(t) => Json::from(&**t),
        Value::Bool(b) => Json::from(*b),
    }
}

fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n.as_f64().map_or(Value::None, Value::Float),
        },
        Json::String(s) => Value::Text(s.as_str().into()),
        other => Value::Text(other.to_string().into()),
    }
}

/// Writes snapshots to a recording.
pub struct Recorder<W: Write> {
    out: W,
    columns: Option<Columns>,
    pub written: usize,
}

impl<W: Write> Recorder<W> {
    pub fn new(out: W) -> Recorder<W> {
        Recorder {
            out,
            columns: None,
            written: 0,
        }
    }

    pub fn write(&mut self, s: &Snapshot) -> std::io::Result<()> {
        let columns = Columns {
            services: s.services.columns.clone(),
            agents: s.agents.columns.clone(),
        };
        if self.columns.as_ref() != Some(&columns) {
            serde_json::to_writer(
                &mut self.out,
                &Line::Columns {
                    columns: columns_clone(&columns),
                },
            )?;
            self.out.write_all(b"\n")?;
            self.columns = Some(columns);
        }
        let rows = |g: &Grid| -> Vec<Vec<Json>> {
            g.rows
                .iter()
                .map(|r| r.iter().map(to_json).collect())
                .collect()
        };
        let record = Record {
            at: s.taken_at,
            totals: s
                .totals
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
            services: rows(&s.services),
            agents: rows(&s.agents),
            chat: s
                .chat
                .iter()
                .map(|m| RecordedChat {
                    id: m.id.clone(),
                    login_id: m.login_id.clone(),
                    first_name: m.first_name.clone(),
                    last_name: m.last_name.clone(),
                    send_time: m.send_time,
                    is_urgent: m.is_urgent,
                    content: m.content.clone(),
                })
                .collect(),
            availability: s.availability.clone(),
        };
        serde_json::to_writer(&mut self.out, &Line::Record(Box::new(record)))?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        self.written += 1;
        Ok(())
    }
}

fn columns_clone(c: &Columns) -> Columns {
    Columns {
        services: c.services.clone(),
        agents: c.agents.clone(),
    }
}

/// Read a recording. Errors name the file and line.
pub fn read(path: &Path) -> Result<Vec<Snapshot>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
    let mut columns = Columns::default();
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}:{}: cannot read: {e}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: not a recording line: {e}", path.display(), n + 1))?;
        match parsed {
            Line::Columns { columns: c } => columns = c,
            Line::Record(r) => {
                let grid = |cols: &[String], rows: &[Vec<Json>]| Grid {
                    columns: cols.to_vec(),
                    rows: rows
                        .iter()
                        .map(|r| {
                            let mut row: Vec<Value> = r.iter().map(from_json).collect();
                            row.resize(cols.len(), Value::None);
                            row
                        })
                        .collect(),
                };
                let mut s = Snapshot::default();
                s.taken_at = r.at;
                s.totals = r
                    .totals
                    .iter()
                    .map(|(k, v)| (k.clone(), from_json(v)))
                    .collect();
                s.services = grid(&columns.services, &r.services);
                s.agents = grid(&columns.agents, &r.agents);
                s.chat = r
                    .chat
                    .into_iter()
                    .map(|m| ChatMessage {
                        id: m.id,
                        login_id: m.login_id,
                        first_name: m.first_name,
                        last_name: m.last_name,
                        send_time: m.send_time,
                        is_urgent: m.is_urgent,
                        content: m.content,
                    })
                    .collect();
                s.availability = r.availability;
                out.push(s);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_reads_back_as_it_was_written() {
        let mut s = Snapshot::default();
        s.taken_at = 1_700_000_000;
        s.totals.insert("in_calls_waiting".into(), Value::Int(3));
        s.totals.insert("service_level".into(), Value::Float(87.5));
        s.totals.insert("in_ewt".into(), Value::None);
        s.services = Grid {
            columns: vec!["name".into(), "in_calls_waiting".into()],
            rows: vec![vec![Value::Text("Sales".into()), Value::Int(3)]],
        };
        s.chat.push(ChatMessage {
            id: "m1".into(),
            login_id: "diana".into(),
            first_name: "Diana".into(),
            last_name: "Yeh".into(),
            send_time: Some(1_699_999_990),
            is_urgent: true,
            content: "<b>help</b>\nnow".into(),
        });
        s.availability.insert("Sales".into(), true);
        let mut buf = Vec::new();
        let mut r = Recorder::new(&mut buf);
        r.write(&s).unwrap();
        r.write(&s).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert_eq!(
            text.lines().count(),
            3,
            "columns once, then two records:\n{text}"
        );
        let dir = std::env::temp_dir().join(format!("lookout-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.jsonl");
        std::fs::write(&path, &buf).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], s);
        std::fs::write(&path, format!("{text}{{\"at\": \"x\"}}\n")).unwrap();
        let err = read(&path).unwrap_err();
        assert!(err.contains("r.jsonl:4: not a recording line"), "{err}");
    }
}
