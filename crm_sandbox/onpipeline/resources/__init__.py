"""One object per group of Onpipeline resources; each holds the shared ``ApiState``."""
