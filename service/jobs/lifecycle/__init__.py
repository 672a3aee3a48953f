"""The job kind on the lifecycle engine: its steps (launch, poll, cancel, local training),
pacing, adoption of provider jobs and the provider push trigger."""
