"""Messages of the CITA-Cloud v5.0.0 controller RPC: our own governance.proto and the module protoc made from it."""
