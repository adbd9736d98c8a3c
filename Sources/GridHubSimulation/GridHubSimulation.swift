/// The simulated city: doubles of the source systems and department desks.
