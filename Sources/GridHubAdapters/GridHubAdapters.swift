/// The source adapters.
