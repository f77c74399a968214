fn main() {
    contract::build::check_plugin_manifest();
}
