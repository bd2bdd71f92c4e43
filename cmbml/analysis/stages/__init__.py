"""Pipeline stages of the analysis, shared by every cleaning method.

A method is analysed by registering these stages with a ``method`` setting that names its entry
in ``model.analysis.methods`` (prediction asset, working dir, output beam, epochs); see
``cfg/stages/analysis.yaml`` and ``cfg/model/analysis/default.yaml``.
"""
