"""CITA-Cloud v5.0.0: its six services, the files of a node folder and syncthing's config."""
