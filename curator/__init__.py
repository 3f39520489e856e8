"""Trajectory Curator: review teacher-generated agent trajectories and turn the decisions into
SFT, DPO and KTO data. The library is the product; the `curator` command and the Gradio app are
thin layers over it (see ARCHITECTURE.md)."""
