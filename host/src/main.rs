fn main() {
    eprintln!("host: not built yet");
    std::process::exit(1);
}
