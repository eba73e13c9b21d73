"""Configuration and build-practice checks: on built images and on Dockerfiles."""
