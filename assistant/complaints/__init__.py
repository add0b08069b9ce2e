"""Complaints: intake, routing to the responsible team, deadlines and the complaint store."""
