use std::time::Instant;
use yiqi_schema::keys::generate;
fn main() {
    let key = generate();
    let envs = yiqi_tests::records::signed_batch(&key, "CN-BJ", "B", 0..20000, 1);
    let t = Instant::now();
    for e in &envs { let _ = yiqi_schema::ijson::parse(e).unwrap(); }
    println!("ijson parse: {:.0}/s", 20000.0 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    for e in &envs { let _: serde_json::Value = serde_json::from_slice(e).unwrap(); }
    println!("serde parse: {:.0}/s", 20000.0 / t.elapsed().as_secs_f64());
    let vals: Vec<serde_json::Value> = envs.iter().map(|e| serde_json::from_slice(e).unwrap()).collect();
    let t = Instant::now();
    for v in &vals { let _ = yiqi_schema::canonical::canonical_bytes(&v["record"]); }
    println!("canonical: {:.0}/s", 20000.0 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    for e in &envs { let _ = yiqi_schema::check_envelope(e, |_, _| true).unwrap(); }
    println!("check_envelope: {:.0}/s", 20000.0 / t.elapsed().as_secs_f64());
    println!("record bytes: {}", envs[0].len());
}
