//! The contact-center model behind the simulated tenant.
//!
//! It moves in whole-second steps: calls arrive per service, wait in queue, are answered by a
//! ready agent with the skill or abandon when the caller's patience runs out; agents cycle
//! through ready → busy → after-call work → ready, take breaks (not ready, with a reason), and
//! post internal chat messages, some urgent. Everything random comes from one seeded generator,
//! so the same seed and the same number of steps give the same tenant.

use std::collections::{BTreeMap, VecDeque};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Default service names and their arrival rates (calls per minute).
pub const DEFAULT_SERVICES: &[(&str, f64)] = &[
    ("Sales", 2.0),
    ("Support", 3.0),
    ("Billing", 1.2),
    ("Support Chat", 1.5),
    ("VIP", 0.4),
    ("Retention", 0.6),
];

const TEAMS: &[&str] = &["Front Line", "Specialists", "Chat Team"];
const FIRST: &[&str] = &[
    "Diana", "Omar", "Lena", "Marcus", "Priya", "Tomas", "Aiko", "Sven", "Grace", "Mateo", "Nadia",
    "Kwame", "Ines", "Felix", "Yara", "Jonas", "Maya", "Arjun", "Chloe", "Ivan",
];
const LAST: &[&str] = &[
    "Yeh",
    "Haddad",
    "Fischer",
    "Brown",
    "Natarajan",
    "Novak",
    "Tanaka",
    "Berg",
    "Okafor",
    "Silva",
    "Petrova",
    "Mensah",
    "Moreau",
    "Weber",
    "Costa",
    "Lind",
    "Cohen",
    "Rao",
    "Martin",
    "Sokolov",
];
const NOT_READY_REASONS: &[&str] = &["Break", "Lunch", "Meeting", "Training", "Coaching"];
pub const DISPOSITIONS: &[&str] = &[
    "Agent failure",
    "Disposition not found",
    "Dropped while talking",
    "Offer rejected",
    "Phone number out of service",
    "Product sold",
    "Silence",
    "System failure",
    "Wrong number",
];
const CHAT_LINES: &[&str] = &[
    "Can someone cover my queue for 5 minutes?",
    "Customer asking for a supervisor on line 2",
    "Is the billing system slow for anyone else?",
    "Back from break",
    "Need help with a refund over the limit",
    "CRM is not loading customer history",
];
const URGENT_LINES: &[&str] = &[
    "Customer threatening legal action, please join my call",
    "Caller reports a safety emergency, escalating now",
    "Abusive caller, requesting supervisor takeover",
];

/// An agent's ACD state, spelled as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentState {
    LoggedOut,
    Ready,
    Busy,
    AfterCallWork,
    NotReady,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::LoggedOut => "",
            AgentState::Ready => "ready",
            AgentState::Busy => "busy",
            AgentState::AfterCallWork => "after_call_work",
            AgentState::NotReady => "not_ready",
        }
    }

    /// Parse the API spelling (and `logged_out` for scripts).
    pub fn parse(s: &str) -> Option<AgentState> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "ready" => AgentState::Ready,
            "busy" => AgentState::Busy,
            "after_call_work" | "acw" => AgentState::AfterCallWork,
            "not_ready" => AgentState::NotReady,
            "logged_out" | "" => AgentState::LoggedOut,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Team {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub arrived: u64,
    pub patience: u64,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub name: String,
    /// Calls per minute.
    pub rate: f64,
    pub queue: VecDeque<Call>,
    pub received: u64,
    pub queued: u64,
    pub answered: u64,
    pub answered_in_sl: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub total_answer_wait: u64,
    pub out_handled: u64,
    pub sl_threshold: u64,
    pub sl_target: u64,
}

#[derive(Debug, Clone)]
pub struct ActiveCall {
    pub service: usize,
    pub started: u64,
    pub ends: u64,
    pub hold: u64,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub login_id: String,
    pub first: String,
    pub last: String,
    pub team: usize,
    pub skills: Vec<usize>,
    pub extension: String,
    pub state: AgentState,
    pub reason: String,
    pub state_since: u64,
    /// When the current not-ready or after-call-work spell ends.
    pub state_until: u64,
    pub login_since: Option<u64>,
    pub call: Option<ActiveCall>,
    /// A scripted state is held until this time; no automatic transitions before it.
    pub held_until: Option<u64>,
    pub handled_in: u64,
    pub handled_out: u64,
    pub handle_time_total: u64,
    pub ready_time: u64,
    pub busy_time: u64,
    pub acw_time: u64,
    pub break_time: u64,
    pub dispositions: BTreeMap<String, u64>,
}

impl Agent {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

#[derive(Debug, Clone)]
pub struct ChatMsg {
    pub id: u64,
    pub agent: usize,
    pub sent_at: u64,
    pub urgent: bool,
    pub content: String,
}

/// Shape of a new tenant.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub seed: u64,
    pub agents: usize,
    /// (name, calls per minute).
    pub services: Vec<(String, f64)>,
    /// Unix time at model second 0 (for chat `send_time`); the real time when made by default.
    pub epoch: u64,
    /// Chance per second that some agent posts a chat message.
    pub chat_rate: f64,
    /// Share of agents that start logged out.
    pub logged_out_share: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            seed: 1,
            agents: 40,
            services: DEFAULT_SERVICES
                .iter()
                .map(|(n, r)| (n.to_string(), *r))
                .collect(),
            epoch: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            chat_rate: 1.0 / 120.0,
            logged_out_share: 0.1,
        }
    }
}

/// The tenant's state at one second.
pub struct Model {
    rng: SmallRng,
    /// Seconds since the model started.
    pub now: u64,
    pub epoch: u64,
    pub teams: Vec<Team>,
    pub services: Vec<Service>,
    pub agents: Vec<Agent>,
    pub chat: VecDeque<ChatMsg>,
    next_chat_id: u64,
    chat_rate: f64,
}

const CHAT_KEEP: usize = 500;

fn guid(rng: &mut SmallRng) -> String {
    let a: u32 = rng.random();
    let b: u16 = rng.random();
    let c: u16 = rng.random();
    let d: u16 = rng.random();
    let e: u64 = rng.random::<u64>() & 0xFFFF_FFFF_FFFF;
    format!("{a:08X}-{b:04X}-{c:04X}-{d:04X}-{e:012X}")
}

impl Model {
    pub fn new(cfg: &ModelConfig) -> Model {
        let mut rng = SmallRng::seed_from_u64(cfg.seed);
        let teams: Vec<Team> = TEAMS
            .iter()
            .map(|n| Team {
                id: guid(&mut rng),
                name: n.to_string(),
            })
            .collect();
        let services: Vec<Service> = cfg
            .services
            .iter()
            .map(|(name, rate)| Service {
                id: guid(&mut rng),
                name: name.clone(),
                rate: *rate,
                queue: VecDeque::new(),
                received: 0,
                queued: 0,
                answered: 0,
                answered_in_sl: 0,
                abandoned: 0,
                short_abandoned: 0,
                total_answer_wait: 0,
                out_handled: 0,
                sl_threshold: 20,
                sl_target: 80,
            })
            .collect();
        let n_services = services.len().max(1);
        let mut agents = Vec::with_capacity(cfg.agents);
        for i in 0..cfg.agents {
            let first = FIRST[i % FIRST.len()].to_string();
            let last = LAST[(i / FIRST.len() + i * 7) % LAST.len()].to_string();
            let suffix = if i < FIRST.len() {
                String::new()
            } else {
                (i / FIRST.len()).to_string()
            };
            let login_id = format!(
                "{}.{}{}",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase(),
                suffix
            );
            // Each agent has two or three skills; together they cover every service.
            let mut skills = vec![i % n_services];
            let extra = 1 + rng.random_range(0..2);
            for _ in 0..extra {
                let s = rng.random_range(0..n_services);
                if !skills.contains(&s) {
                    skills.push(s);
                }
            }
            let logged_in = rng.random::<f64>() >= cfg.logged_out_share;
            agents.push(Agent {
                id: guid(&mut rng),
                login_id,
                first,
                last,
                team: i % teams.len(),
                skills,
                extension: format!("{}", 2000 + i),
                state: if logged_in {
                    AgentState::Ready
                } else {
                    AgentState::LoggedOut
                },
                reason: String::new(),
                state_since: 0,
                state_until: 0,
                login_since: logged_in.then_some(0),
                call: None,
                held_until: None,
                handled_in: 0,
                handled_out: 0,
                handle_time_total: 0,
                ready_time: 0,
                busy_time: 0,
                acw_time: 0,
                break_time: 0,
                dispositions: BTreeMap::new(),
            });
        }
        Model {
            rng,
            now: 0,
            epoch: cfg.epoch,
            teams,
            services,
            agents,
            chat: VecDeque::new(),
            next_chat_id: 1,
            chat_rate: cfg.chat_rate,
        }
    }

    /// Unix time of the model's current second.
    pub fn unix_now(&self) -> u64 {
        self.epoch + self.now
    }

    pub fn service_index(&self, name: &str) -> Option<usize> {
        self.services
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
    }

    pub fn agent_index(&self, login: &str) -> Option<usize> {
        self.agents
            .iter()
            .position(|a| a.login_id.eq_ignore_ascii_case(login))
    }

    /// Advance one second.
    pub fn step(&mut self) {
        self.now += 1;
        let now = self.now;
        self.arrivals();
        self.agent_transitions();
        self.abandons();
        self.assign();
        if self.rng.random::<f64>() < self.chat_rate {
            let logged_in: Vec<usize> = (0..self.agents.len())
                .filter(|&i| self.agents[i].state != AgentState::LoggedOut)
                .collect();
            if !logged_in.is_empty() {
                let agent = logged_in[self.rng.random_range(0..logged_in.len())];
                let urgent = self.rng.random::<f64>() < 0.15;
                let line = if urgent {
                    URGENT_LINES[self.rng.random_range(0..URGENT_LINES.len())]
                } else {
                    CHAT_LINES[self.rng.random_range(0..CHAT_LINES.len())]
                };
                self.post_chat(agent, urgent, line.to_string());
            }
        }
        for a in &mut self.agents {
            match a.state {
                AgentState::Ready => a.ready_time += 1,
                AgentState::Busy => a.busy_time += 1,
                AgentState::AfterCallWork => a.acw_time += 1,
                AgentState::NotReady => a.break_time += 1,
                AgentState::LoggedOut => {}
            }
            if a.held_until.is_some_and(|t| t <= now) {
                a.held_until = None;
            }
        }
    }

    fn arrivals(&mut self) {
        let now = self.now;
        for s in &mut self.services {
            // Bernoulli per second is close enough to Poisson at these rates.
            let p = (s.rate / 60.0).clamp(0.0, 1.0);
            if self.rng.random::<f64>() < p {
                let patience = self.rng.random_range(25..400);
                s.queue.push_back(Call {
                    arrived: now,
                    patience,
                });
                s.received += 1;
                s.queued += 1;
            }
        }
    }

    fn set_state(a: &mut Agent, state: AgentState, now: u64) {
        if state != a.state {
            a.state = state;
            a.state_since = now;
        }
        if state == AgentState::LoggedOut {
            a.login_since = None;
        } else if a.login_since.is_none() {
            a.login_since = Some(now);
        }
        if state != AgentState::NotReady {
            a.reason.clear();
        }
    }

    fn agent_transitions(&mut self) {
        let now = self.now;
        for i in 0..self.agents.len() {
            let held = self.agents[i].held_until.is_some();
            match self.agents[i].state {
                AgentState::Busy => {
                    let ends = self.agents[i].call.as_ref().map_or(now, |c| c.ends);
                    if now >= ends && !held {
                        let disposition =
                            DISPOSITIONS[self.rng.random_range(0..DISPOSITIONS.len())];
                        let acw = self.rng.random_range(5..45);
                        let a = &mut self.agents[i];
                        if let Some(call) = a.call.take() {
                            a.handled_in += 1;
                            a.handle_time_total += now.saturating_sub(call.started) + acw;
                            *a.dispositions.entry(disposition.to_string()).or_default() += 1;
                        }
                        Self::set_state(a, AgentState::AfterCallWork, now);
                        a.state_until = now + acw;
                    }
                }
                AgentState::AfterCallWork | AgentState::NotReady => {
                    let a = &mut self.agents[i];
                    if now >= a.state_until && !held {
                        Self::set_state(a, AgentState::Ready, now);
                    }
                }
                AgentState::Ready => {
                    if !held && self.rng.random::<f64>() < 0.0015 {
                        let reason =
                            NOT_READY_REASONS[self.rng.random_range(0..NOT_READY_REASONS.len())];
                        let len = self.rng.random_range(60..420);
                        let a = &mut self.agents[i];
                        Self::set_state(a, AgentState::NotReady, now);
                        a.reason = reason.to_string();
                        a.state_until = now + len;
                    }
                }
                AgentState::LoggedOut => {
                    if !held && self.rng.random::<f64>() < 0.0005 {
                        Self::set_state(&mut self.agents[i], AgentState::Ready, now);
                    }
                }
            }
        }
    }

    fn abandons(&mut self) {
        let now = self.now;
        for s in &mut self.services {
            let before = s.queue.len();
            let mut short = 0;
            s.queue.retain(|c| {
                let waited = now - c.arrived;
                let stays = waited < c.patience;
                if !stays && waited < 10 {
                    short += 1;
                }
                stays
            });
            let gone = (before - s.queue.len()) as u64;
            s.abandoned += gone - short;
            s.short_abandoned += short;
        }
    }

    fn assign(&mut self) {
        let now = self.now;
        loop {
            // Oldest waiting call first, across services.
            let Some(si) = (0..self.services.len())
                .filter(|&i| !self.services[i].queue.is_empty())
                .min_by_key(|&i| self.services[i].queue[0].arrived)
            else {
                return;
            };
            let candidate = (0..self.agents.len())
                .filter(|&i| {
                    let a = &self.agents[i];
                    a.state == AgentState::Ready && a.held_until.is_none() && a.skills.contains(&si)
                })
                .min_by_key(|&i| self.agents[i].state_since);
            let Some(ai) = candidate else {
                // Nobody for the oldest call; try services that have someone.
                if !self.assign_any_other(si) {
                    return;
                }
                continue;
            };
            self.answer(si, ai, now);
        }
    }

    /// Answer one call on any service other than `skip` that has a ready agent. False when none.
    fn assign_any_other(&mut self, skip: usize) -> bool {
        let now = self.now;
        for si in 0..self.services.len() {
            if si == skip || self.services[si].queue.is_empty() {
                continue;
            }
            if let Some(ai) = (0..self.agents.len()).find(|&i| {
                let a = &self.agents[i];
                a.state == AgentState::Ready && a.held_until.is_none() && a.skills.contains(&si)
            }) {
                self.answer(si, ai, now);
                return true;
            }
        }
        false
    }

    fn answer(&mut self, si: usize, ai: usize, now: u64) {
        let Some(call) = self.services[si].queue.pop_front() else {
            return;
        };
        let wait = now - call.arrived;
        let talk = self.rng.random_range(60..360);
        let hold = if self.rng.random::<f64>() < 0.2 {
            self.rng.random_range(5..60)
        } else {
            0
        };
        let s = &mut self.services[si];
        s.answered += 1;
        s.total_answer_wait += wait;
        if wait <= s.sl_threshold {
            s.answered_in_sl += 1;
        }
        let a = &mut self.agents[ai];
        Self::set_state(a, AgentState::Busy, now);
        a.call = Some(ActiveCall {
            service: si,
            started: now,
            ends: now + talk,
            hold,
        });
    }

    /// Post an internal chat message from agent `agent`.
    pub fn post_chat(&mut self, agent: usize, urgent: bool, content: String) -> u64 {
        let id = self.next_chat_id;
        self.next_chat_id += 1;
        self.chat.push_back(ChatMsg {
            id,
            agent,
            sent_at: self.now,
            urgent,
            content,
        });
        while self.chat.len() > CHAT_KEEP {
            self.chat.pop_front();
        }
        id
    }

    /// Put calls in a service's queue now (a scripted burst).
    pub fn add_calls(&mut self, service: usize, count: u64) {
        let now = self.now;
        for _ in 0..count {
            let patience = self.rng.random_range(120..600);
            let s = &mut self.services[service];
            s.queue.push_back(Call {
                arrived: now,
                patience,
            });
            s.received += 1;
            s.queued += 1;
        }
    }

    /// Move agents into `state` and hold them there until `until` (or indefinitely).
    pub fn force_state(&mut self, agents: &[usize], state: AgentState, reason: &str, until: u64) {
        let now = self.now;
        for &i in agents {
            let a = &mut self.agents[i];
            if state != AgentState::Busy {
                a.call = None;
            }
            Self::set_state(a, state, now);
            if state == AgentState::NotReady {
                a.reason = if reason.is_empty() {
                    "Break".into()
                } else {
                    reason.to_string()
                };
            }
            if state == AgentState::Busy && a.call.is_none() {
                a.call = Some(ActiveCall {
                    service: a.skills[0],
                    started: now,
                    ends: until,
                    hold: 0,
                });
            }
            a.state_until = until;
            a.held_until = Some(until);
        }
    }

    // ---- derived values used by the statistics ----

    pub fn agents_on_service(&self, si: usize) -> impl Iterator<Item = &Agent> {
        self.agents.iter().filter(move |a| a.skills.contains(&si))
    }

    pub fn max_wait(&self, si: usize) -> u64 {
        self.services[si]
            .queue
            .front()
            .map_or(0, |c| self.now - c.arrived)
    }

    /// Rough estimated wait: queue length × average handle time ÷ agents able to take calls.
    pub fn ewt(&self, si: usize) -> u64 {
        let s = &self.services[si];
        if s.queue.is_empty() {
            return 0;
        }
        let staffed = self
            .agents_on_service(si)
            .filter(|a| matches!(a.state, AgentState::Ready | AgentState::Busy))
            .count()
            .max(1) as u64;
        (s.queue.len() as u64 * 240) / staffed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, secs: u64) -> Model {
        let mut m = Model::new(&ModelConfig {
            seed,
            ..Default::default()
        });
        for _ in 0..secs {
            m.step();
        }
        m
    }

    #[test]
    fn same_seed_same_tenant() {
        let a = run(7, 900);
        let b = run(7, 900);
        let sig = |m: &Model| {
            (
                m.services.iter().map(|s| s.received).collect::<Vec<_>>(),
                m.agents.iter().map(|a| a.state).collect::<Vec<_>>(),
                m.chat.len(),
            )
        };
        assert_eq!(sig(&a), sig(&b));
        let c = run(8, 900);
        assert_ne!(sig(&a), sig(&c));
    }

    #[test]
    fn the_tenant_moves() {
        let m = run(3, 1800);
        let received: u64 = m.services.iter().map(|s| s.received).sum();
        let answered: u64 = m.services.iter().map(|s| s.answered).sum();
        assert!(received > 100, "calls arrive: {received}");
        assert!(answered > 50, "calls are answered: {answered}");
        let states: std::collections::HashSet<_> = m.agents.iter().map(|a| a.state).collect();
        assert!(
            states.len() >= 3,
            "agents are in several states: {states:?}"
        );
        assert!(!m.chat.is_empty(), "agents chat");
        assert!(m.agents.iter().any(|a| !a.dispositions.is_empty()));
    }

    #[test]
    fn a_held_state_sticks_until_released() {
        let mut m = run(1, 10);
        let sales = m.service_index("Sales").unwrap();
        let on_sales: Vec<usize> = (0..m.agents.len())
            .filter(|&i| m.agents[i].skills.contains(&sales))
            .collect();
        let until = m.now + 60;
        m.force_state(&on_sales, AgentState::NotReady, "Meeting", until);
        m.add_calls(sales, 4);
        for _ in 0..30 {
            m.step();
        }
        assert!(
            on_sales
                .iter()
                .all(|&i| m.agents[i].state == AgentState::NotReady)
        );
        assert!(m.services[sales].queue.len() >= 4);
        assert!(m.max_wait(sales) >= 30);
        for _ in 0..60 {
            m.step();
        }
        assert!(
            on_sales
                .iter()
                .any(|&i| m.agents[i].state != AgentState::NotReady)
        );
    }
}
