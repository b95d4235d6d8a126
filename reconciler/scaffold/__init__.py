"""The files ``mmctl init`` writes: a project's skeleton and its CI workflows (package data)."""
