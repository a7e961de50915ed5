"""The networks and the artifact format: the contract between training and service."""
