/// The router.
