<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
<pipe>
<rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" classificationMin="0.0" classificationMax="1.0"><rasterTransparency/><rastershader><colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="0.0" maximumValue="1.0"><item value="0.0" color="#1a9641" label="0.0 (low)" alpha="255"/><item value="0.25" color="#a6d96a" label="0.25" alpha="255"/><item value="0.5" color="#ffffbf" label="0.5" alpha="255"/><item value="0.75" color="#fdae61" label="0.75" alpha="255"/><item value="1.0" color="#d7191c" label="1.0 (high)" alpha="255"/></colorrampshader></rastershader></rasterrenderer>
</pipe>
<blendMode>0</blendMode>
</qgis>
