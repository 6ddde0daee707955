"""The Oryx action wrapper: a gRPC server around user actions."""
