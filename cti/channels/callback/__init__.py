"""Callbacks: requests that keep their place, offered to agents, dialled over AMI."""
