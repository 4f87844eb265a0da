//! CPU time to gzip a history page the way `serve` does (`shared::edge::http::gzip` at
//! `GZIP_LEVEL`), beside other levels and the cost of serialising the page in the first place.
//! Two kinds of page, one message in 50 a file in both: "catch-up", the texts scripts/bench-catchup
//! seeds (one sentence repeated with its number), and "varied", texts of 3–30 words drawn from a
//! few hundred, which compress more like real chat.
//! Prints a Markdown table. Run by scripts/bench on a release build.
//!
//!     cargo run --release -p bench-gzip [ITERATIONS]

use std::time::Instant;

use shared::api::messages::MessagePage;
use shared::domain::model::{FileSummary, Message, MessageBody, MessageView};
use shared::edge::http::{gzip, GZIP_LEVEL};

/// A few hundred words of chat, for the varied texts.
const WORDS: &str = "the a to and you i it is of in that for on we at be this have with are not \
    but my so can just do what no if me your was all will get out up at about there when they \
    one time see know go think like how now well good then here want come tomorrow today \
    tonight morning evening later soon yes yeah ok okay thanks thank please sorry sure maybe \
    station train bus car ticket tickets flight hotel room dinner lunch coffee breakfast beer \
    party meeting call photo photos picture video file document slides report draft budget \
    plan trip weekend holiday birthday kids school work office home house garden dog cat \
    mum dad sister brother friend friends team boss client project deadline monday tuesday \
    wednesday thursday friday saturday sunday o'clock ten eleven noon half past quarter \
    already still again never always almost really very much more less great nice cool \
    awesome perfect lovely love miss happy tired busy late early sent send check look read \
    bring take pick drop meet leave arrive start finish book booked cancel cancelled moved";

/// A deterministic pseudo-random sequence (xorshift), so every run gzips the same bytes.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn varied_text(state: &mut u64) -> String {
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let n = 3 + next(state) % 28;
    (0..n)
        .map(|_| words[(next(state) % words.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn page(messages: u64, varied: bool) -> MessagePage {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let cid = "c-2b7e151628aed2a6abf71588";
    let views = (1..=messages)
        .map(|seq| {
            let body = if seq % 50 == 0 {
                MessageBody::File(FileSummary {
                    file_id: format!("f{seq:06}"),
                    name: format!("photo-{seq}.jpg"),
                    size: 123_456,
                    content_type: "image/jpeg".into(),
                    forwarded: None,
                })
            } else {
                MessageBody::Text(if varied {
                    varied_text(&mut state)
                } else {
                    format!("Message {seq}: see you at the station at ten, bring the tickets")
                })
            };
            MessageView::from(&Message {
                conversation_id: cid.into(),
                seq,
                // Random-looking, like the uuids messages carry.
                message_id: format!(
                    "{:016x}{:016x}",
                    seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    seq.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
                ),
                sender: "alice".into(),
                sent_at_ms: 1_764_000_000_000 + seq as i64,
                body,
            })
        })
        .collect();
    MessagePage {
        messages: views,
        older: Some("b.eyJjIjoiYy0yYjdlMTUxNjI4YWVkMmE2YWJmNzE1ODgiLCJzIjo5MDAxfQ.AbCdEf".into()),
        newer: "a.eyJjIjoiYy0yYjdlMTUxNjI4YWVkMmE2YWJmNzE1ODgiLCJzIjoxMDAwMH0.GhIjKl".into(),
    }
}

/// Median wall time of `f` over `iterations` runs (one thread, nothing else to wait on, so it
/// is CPU time; the median drops the runs another process preempted).
fn median_us(iterations: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..iterations)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("ITERATIONS is a number"))
        .unwrap_or(200);
    println!("median of {iterations} runs; serve gzips at level {GZIP_LEVEL}");
    println!();
    println!("| page | texts | JSON | serialise | gzip level | gzipped | ratio | gzip CPU | gzip CPU / serialise |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (messages, varied) in [(100, false), (100, true), (1000, false), (1000, true)] {
        let texts = if varied { "varied" } else { "catch-up" };
        let page = page(messages, varied);
        let json = serde_json::to_string(&page).expect("a page serialises");
        let serialise = median_us(iterations, || {
            std::hint::black_box(serde_json::to_string(&page).expect("serialises"));
        });
        for level in [1, GZIP_LEVEL, 9] {
            let size = gzip(json.as_bytes(), level).expect("gzip").len();
            let cpu = median_us(iterations, || {
                std::hint::black_box(gzip(json.as_bytes(), level).expect("gzip"));
            });
            let serve = if level == GZIP_LEVEL { " (serve)" } else { "" };
            println!(
                "| {messages} messages | {texts} | {:.1} KiB | {serialise:.0} µs | {level}{serve} | {:.1} KiB | {:.3} | {cpu:.0} µs | {:.1}× |",
                json.len() as f64 / 1024.0,
                size as f64 / 1024.0,
                size as f64 / json.len() as f64,
                cpu / serialise,
            );
        }
    }
}
