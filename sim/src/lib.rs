//! A Kubernetes API simulator with a live 3scale 2.15 namespace.
