fn main() {
    eprintln!("sim: not built yet");
    std::process::exit(1);
}
