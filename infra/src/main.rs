#[allow(clippy::all, unused)]
mod aws {
    pulumi_gestalt_rust::include_provider!("aws");
}
fn main() {}
