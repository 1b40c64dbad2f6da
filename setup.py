"""Maps the top-level folders agents/, envs/, memory/ and tools/ to lma.agents, lma.envs, ...

The layout shows the architecture (DESIGN.md) while nothing generic such as ``tools`` lands in
site-packages. Everything else about the distribution lives in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {"lma": "lma", "lma.agents": "agents", "lma.envs": "envs", "lma.memory": "memory", "lma.tools": "tools"}

packages, package_dir = [], {}
for package, folder in ROOTS.items():
    package_dir[package] = folder
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder) if f"{package}.{sub}" not in ROOTS]

setup(packages=packages, package_dir=package_dir)
