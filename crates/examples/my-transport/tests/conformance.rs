use state_sync_conformance::{Capabilities, Capability, Suite, Transport};

state_sync_conformance::main!(
    Suite::new()
        .transport(
            Transport::new("my-transport", my_transport::Bus::new)
                .with_capabilities(Capabilities::all().without(Capability::SynchronousDelivery)),
        )
        .snapshot_reports()
);
